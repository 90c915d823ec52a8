"""The run document every state passes along (``plan["run"]``) and its timestamps."""

from __future__ import annotations

from datetime import datetime


def parse_time(value: str) -> datetime:
    """Step Functions' ``$$.Execution.StartTime`` (ISO 8601, ``Z`` suffix): the run's single clock, so a
    retried step sees the same "now" as its first attempt."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
