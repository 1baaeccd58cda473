"""GCRA (the generic cell rate algorithm): a token bucket kept as one timestamp per key.

The embedded limiter runs it in memory; the Redis limiter runs the same arithmetic in Lua,
so both backends refuse exactly the same sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def gcra(tat: float, now: float, limit: int, period: float) -> tuple[float | None, float]:
    """(wait, new_tat): wait is None when allowed. `tat` is the theoretical arrival time."""
    interval = period / limit
    tat = max(tat, now)
    allowed_at = tat - period + interval
    if now < allowed_at:
        return allowed_at - now, tat
    return None, tat + interval


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._tat: dict[str, float] = {}
        self._clock = clock

    async def acquire(self, key: str, limit: int, period: float) -> float | None:
        now = self._clock()
        wait, tat = gcra(self._tat.get(key, now), now, limit, period)
        if wait is None:
            self._tat[key] = tat
            if len(self._tat) > 1_000_000:
                self._evict(now)
        return wait

    def _evict(self, now: float) -> None:
        for key in [k for k, t in self._tat.items() if t < now]:
            del self._tat[key]

    async def close(self) -> None:
        self._tat.clear()
