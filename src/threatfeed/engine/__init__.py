"""The indicator engine: feed bodies in, GuardDuty-ready lists, accounting and state out.

No boto3 and no AWS call, so tests run without AWS. Third-party imports, shipped by the transform function:
NumPy, for the operations that touch every address (sorting, merging, rendering lists), idna, for
internationalized names as clients resolve them (IDNA 2008), publicsuffixlist, for the Public Suffix List a name
must end in (bundled, pinned), and jmespath (the Lambda runtime has it) for the generic JSON format's
``records``/``select`` options. Modules, one concern each:

- :mod:`.model` the public data types; :mod:`.reasons` rejection/correction names and counting
- :mod:`.decode` decompression caps, encodings, line endings
- :mod:`.formats` one parser per input format, and sniffing
- :mod:`.classify` one value -> indicator or counted rejection; :mod:`.ipv4`, :mod:`.domains`,
  :mod:`.refang` the value-level rules; :mod:`.policy` bogons, minimum prefix, allow-list
- :mod:`.spans` address sets as integer intervals
- :mod:`.state` provenance and aging between runs; :mod:`.packing` aggregation, overflow policy, lists
- :mod:`.coverage` addresses a list or a feed covers, and how much of a feed's contribution a run kept
- :mod:`.parse` one body; :mod:`.build` a whole run; :mod:`.cli` ``threatfeed parse``
"""

from threatfeed.engine.build import build_lists
from threatfeed.engine.decode import BodyTooLarge, BodyUnreadable
from threatfeed.engine.model import EngineResult, EngineSettings, FeedBody, FeedStats, ListOutput
from threatfeed.engine.parse import ParsedFeed, parse_body

__all__ = [
    "BodyTooLarge",
    "BodyUnreadable",
    "EngineResult",
    "EngineSettings",
    "FeedBody",
    "FeedStats",
    "ListOutput",
    "ParsedFeed",
    "build_lists",
    "parse_body",
]
