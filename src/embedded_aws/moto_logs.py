"""Keep moto's internal failure dumps out of the user's output.

moto's ASL interpreter logs every failure an execution goes through at ERROR, with a dump of its parse tree
(``Exception=FailureEventException, Error=SuddenDropGuard, ... at '(StateFail| {...``). With no logging set up,
Python prints such records on stderr, in the middle of ``threatfeed local run``'s output. A failure is the
execution's business: its history, its error and cause and the run's summary report it. So, while the embedded
AWS runs, those records are lowered to DEBUG: dropped by default, kept by whoever asks for debug logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: The loggers whose records are moto internals rather than news for a user.
#: The parser's warnings that a Map's tolerated failures have "no effect" are moto's, not the embedded AWS's: it
#: applies them (``embedded_aws.distributed_map``).
INTERNAL_LOGGERS = (
    "moto.stepfunctions.parser.asl.component.eval_component",
    "moto.stepfunctions.parser.asl.parse.preprocessor",
)


class _AtDebug(logging.Filter):
    """Lowers every record of the logger it is attached to to DEBUG (handlers then filter by their level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


@contextmanager
def internals_at_debug() -> Iterator[None]:
    """While inside, moto's :data:`INTERNAL_LOGGERS` log at DEBUG whatever level they ask for."""
    at_debug = _AtDebug()
    loggers = [logging.getLogger(name) for name in INTERNAL_LOGGERS]
    for logger in loggers:
        logger.addFilter(at_debug)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(at_debug)
