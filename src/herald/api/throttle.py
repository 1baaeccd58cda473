"""Failed authentications, counted per app key and per client address, in memory.

A wrong secret must cost its sender, not Herald: past an allowance, further attempts from
that address or on that key are refused with 429 before any secret is checked or any row
read. The allowance is a GCRA (as the send-path rate limits): `limit` failures per
`period`, recovering one every period/limit. Only failures are counted, so an app using its
right secret is never slowed down, even while someone floods its key.

Per process: each API process counts its own failures. That bounds what each can be made to
spend; a limit shared across processes would cost a Redis round trip per failure for no
protection the per-process one lacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from herald.ratelimit.gcra import gcra

# Names tracked at once (keys and addresses): past this, those whose allowance has fully
# recovered are forgotten, so a flood of made-up keys cannot grow the table without bound.
_MAX_TRACKED = 100_000


class FailureThrottle:
    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._tat: dict[str, float] = {}

    def wait(self, name: str) -> float | None:
        """Seconds until `name` may fail again, or None if it may now."""
        now = self._clock()
        return gcra(self._tat.get(name, now), now, self.limit, self.period)[0]

    def failed(self, name: str) -> None:
        """Count one failure against `name` (past the allowance too: a race of requests)."""
        now = self._clock()
        self._tat[name] = max(self._tat.get(name, now), now) + self.period / self.limit
        if len(self._tat) > _MAX_TRACKED:
            self._tat = {n: t for n, t in self._tat.items() if t > now}

    def clear(self) -> None:
        self._tat.clear()
