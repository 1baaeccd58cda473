"""This process's deliveries sent, per channel and minute, with their accept-to-sent latencies.

Kept in memory by the workers (a counter and a bucket increment per delivery) and written
out by the reporter a few times a minute: the history costs no query on the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from herald.kit.clock import utcnow
from herald.monitoring import latency


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


@dataclass
class Minute:
    sent: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * latency.SIZE)


class Throughput:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self._minutes: dict[tuple[str, datetime], Minute] = {}
        self._changed: set[tuple[str, datetime]] = set()

    def sent(self, channel: str, seconds: float) -> None:
        """A delivery of `channel` was sent (its provider accepted it) `seconds` after acceptance."""
        key = (channel, minute_of(self.clock()))
        m = self._minutes.get(key)
        if m is None:
            m = self._minutes[key] = Minute()
        m.sent += 1
        m.latency[latency.bucket(seconds)] += 1
        self._changed.add(key)

    def changed(self) -> list[tuple[str, datetime, Minute]]:
        """The minutes that changed since the last call, with their totals so far; minutes
        already over and written out are forgotten."""
        keys, self._changed = self._changed, set()
        current = minute_of(self.clock())
        out = [(c, m, Minute(self._minutes[(c, m)].sent, list(self._minutes[(c, m)].latency))) for c, m in keys]
        for key in [k for k in self._minutes if k[1] < current and k not in self._changed]:
            del self._minutes[key]
        return out

    def restore(self, keys: list[tuple[str, datetime]]) -> None:
        """Minutes whose write failed: written again next time (their totals are still here,
        unless the minute ended meanwhile)."""
        self._changed.update(k for k in keys if k in self._minutes)
