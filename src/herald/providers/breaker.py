"""A circuit breaker per provider, driven by its recent error rate.

Closed: calls flow and outcomes are counted over a sliding window. Open: the provider is
skipped (the router fails over) until a cool-down passes. Half-open: one probe at a time is
let through; a success closes the circuit, a failure opens it again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Breaker:
    window: int = 20
    min_calls: int = 10
    failure_ratio: float = 0.5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    # Every outcome recorded, for monitoring's error rate over a time window (`monitoring.reporter`).
    calls: int = 0
    failures: int = 0
    _results: deque[bool] = field(default_factory=deque)
    _opened_at: float | None = None
    _probe_at: float | None = None  # when the half-open probe now in flight was let through

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """May a call go to this provider now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        now = self.clock()
        # A probe that never reported back (its task was cancelled) must not close the door
        # for good: after another cool-down, a new probe may go.
        if state == "half_open" and (self._probe_at is None or now - self._probe_at >= self.cooldown):
            self._probe_at = now
            return True
        return False

    def record(self, ok: bool) -> None:
        self.calls += 1
        if not ok:
            self.failures += 1
        if self._opened_at is not None:
            self._probe_at = None
            if ok:
                self._opened_at = None
                self._results.clear()
            else:
                self._opened_at = self.clock()
            return
        self._results.append(ok)
        if len(self._results) > self.window:
            self._results.popleft()
        failures = self._results.count(False)
        if len(self._results) >= self.min_calls and failures / len(self._results) >= self.failure_ratio:
            self._opened_at = self.clock()
