"""The embedded AWS's clock: where AWS takes minutes, the embedded AWS takes *simulated* minutes.

GuardDuty needs about 15 minutes (up to 40) to activate a list, and the state machine waits for it with a
Wait state and retries with back-off. Sleeping for real would make every local run last as long as in AWS;
not waiting at all would make the embedded AWS kinder than AWS (code that forgets to wait would pass). So the
services of the embedded AWS read this clock, and the two things that wait in a run — the interpreter's Wait
states and its Retry back-off — advance it instead of sleeping.

The clock is real monotonic time plus an offset. ``sleep(seconds)`` moves the offset so that at least
``seconds`` of simulated time pass for the caller; parallel waiters (a Map over Regions) that start at the same
simulated time and wait as long move it once, not once each, as in the real world. Tests move it with
:meth:`SimulatedClock.advance`.
"""

from __future__ import annotations

import threading
import time


class SimulatedClock:
    """Monotonic seconds as the embedded AWS's services see them."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated monotonic time, in seconds."""
        return time.monotonic() + self._offset

    @property
    def skipped(self) -> float:
        """Seconds of simulated time that passed without real time passing (waits not slept)."""
        return self._offset

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass for the caller, without sleeping."""
        if seconds <= 0:
            return
        target = self.now() + seconds
        with self._lock:
            self._offset = max(self._offset, target - time.monotonic())

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds`` for everyone (tests: "20 minutes later")."""
        if seconds < 0:
            raise ValueError("the clock does not go backwards")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


clock = SimulatedClock()
"""The one clock of the process: moto's backends are process-wide, so is the time they see."""
