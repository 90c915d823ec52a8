"""``python -m threatfeed.cli``: the same as the ``threatfeed`` command."""

import sys

from threatfeed.cli import main

sys.exit(main())
