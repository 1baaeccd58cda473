"""A worker process's report: its breakers and its throughput, written where the API reads them.

Every `interval` the process overwrites its own rows: one per provider breaker it holds (the
state, and its calls and failures over the error window) and one per channel and minute it
sent in. A breaker that opens shows within an interval. On a clean stop the process deletes
its breakers' rows; a killed process's rows go stale and are ignored, then pruned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.config import MonitorSettings
from herald.kit.clock import utcnow
from herald.monitoring import repository
from herald.monitoring.throughput import Throughput
from herald.providers.router import Router

log = logging.getLogger(__name__)
_PRUNE_EVERY = 60.0  # seconds between prunes by one process (any may prune: deletes are idempotent)


def reporter_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def stale_after(settings: MonitorSettings) -> timedelta:
    """A report older than this belongs to a process that stopped reporting (killed or hung)."""
    return max(settings.report_interval * 3, timedelta(seconds=10))


class Reporter:
    def __init__(
        self,
        engine: AsyncEngine,
        router: Router,
        throughput: Throughput,
        settings: MonitorSettings,
        *,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.router = router
        self.throughput = throughput
        self.settings = settings
        self.name = name or reporter_id()
        self.clock = clock
        # Per breaker: (when, calls, failures) totals seen at each report, over the error window.
        self._seen: dict[tuple[uuid.UUID | None, str], deque[tuple[float, int, int]]] = {}
        self._pruned = -_PRUNE_EVERY

    def beats(self) -> list[dict[str, object]]:
        """One row per breaker: its state now, and its calls and failures in the error window."""
        now, wall = self.clock(), utcnow()
        window = self.settings.error_window.total_seconds()
        rows: list[dict[str, object]] = []
        for app_id, provider, breaker in self.router.breakers():
            seen = self._seen.setdefault((app_id, provider), deque([(now, 0, 0)]))
            seen.append((now, breaker.calls, breaker.failures))
            while len(seen) > 2 and seen[1][0] <= now - window:
                seen.popleft()
            _, calls0, failures0 = seen[0]
            rows.append(
                {
                    "reporter": self.name,
                    "scope": "" if app_id is None else app_id.hex,
                    "provider": provider,
                    "state": breaker.state,
                    "calls": breaker.calls - calls0,
                    "failures": breaker.failures - failures0,
                    "reported_at": wall,
                }
            )
        return rows

    async def publish(self) -> None:
        """Write this process's report once (and prune old reports, now and then)."""
        changed = self.throughput.changed()
        minutes = [
            {"reporter": self.name, "channel": c, "minute": m, "sent": v.sent, "latency": v.latency}
            for c, m, v in changed
        ]
        beats = self.beats()
        prune = self.clock() - self._pruned >= _PRUNE_EVERY
        if not (beats or minutes or prune):
            return  # no provider called and nothing sent yet: no write at all
        try:
            async with self.engine.begin() as conn:
                await repository.save_beats(conn, beats)
                await repository.save_minutes(conn, minutes)
                if prune:
                    now = utcnow()
                    for stmt in repository.prune(now - timedelta(hours=1), now - self.settings.retention):
                        await conn.execute(stmt)
                    self._pruned = self.clock()
        except BaseException:
            self.throughput.restore([(c, m) for c, m, _ in changed])
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Report every `report_interval` until `stop`, then withdraw the breakers' rows."""
        interval = self.settings.report_interval.total_seconds()
        while not stop.is_set():
            try:
                await self.publish()
            except Exception as exc:  # the database away: report again next time
                log.warning("monitoring report failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
        await self.withdraw()

    async def withdraw(self) -> None:
        try:
            await self.publish()  # the last minute's sends
            async with self.engine.begin() as conn:
                await conn.execute(repository.forget_reporter(self.name))
        except Exception as exc:
            log.warning("withdrawing the monitoring report failed (it goes stale instead): %s", exc)
