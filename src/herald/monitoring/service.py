"""The monitoring reads the console, `herald status` and the gauges share.

`snapshot()` counts each channel's queue from the log (cheap: partial indexes only) and asks
the queue for what only it knows (Redis: the consumer group's lag and pending list).
`provider_health()` and `history()` merge what the worker processes reported
(`monitoring.reporter`): breakers and throughput live in their memory, not in the log.
All of it is deployment-wide operator data, across every app.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.config import MonitorSettings
from herald.kit.channels import Channel
from herald.kit.clock import as_utc, utcnow
from herald.monitoring import latency, repository
from herald.monitoring.models import ChannelMinute, ProviderBeat
from herald.monitoring.reporter import stale_after
from herald.monitoring.schemas import ChannelHistory, MinutePoint, ProviderHealth, QueueStats, Snapshot
from herald.monitoring.throughput import minute_of
from herald.queue.transport import Queue, QueueDepth, transport_of

_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}


class Monitor:
    def __init__(
        self,
        reads: async_sessionmaker[AsyncSession],
        queue: Queue,
        settings: MonitorSettings,
        channels: list[Channel] | None = None,
    ) -> None:
        self.reads = reads
        self.queue = queue
        self.settings = settings
        self.channels = channels or Channel.all()

    @property
    def backend(self) -> str:
        return "embedded" if transport_of(self.queue) is None else "redis"

    async def snapshot(self) -> Snapshot:
        """Every channel's queue now: the log's states, and the queue's lag and pending list."""
        now = utcnow()
        async with self.reads() as session:
            counts = await repository.log_counts(session, now)
        transport = transport_of(self.queue)
        queues = []
        for channel in self.channels:
            c = counts.get(channel.value, repository.LogCounts())
            # Where the log is the queue, what no worker has claimed yet is the ready rows.
            depth = QueueDepth(c.ready, c.in_flight, 0) if transport is None else await transport.depth(channel)
            age = 0.0 if c.oldest_ready is None else max(0.0, (now - c.oldest_ready).total_seconds())
            queues.append(
                QueueStats(
                    channel.value, c.ready, c.in_flight, c.scheduled, c.retrying, c.dead, age, depth.lag, depth.pending
                )
            )
        return Snapshot(self.backend, now, tuple(queues))

    async def provider_health(self) -> list[ProviderHealth]:
        """Each provider as the live worker processes report it: the worst breaker state among
        them, and their calls and failures over the error window, summed."""
        since = utcnow() - stale_after(self.settings)
        async with self.reads() as session:
            beats = (await session.scalars(repository.beats_since(since))).all()
        merged: dict[tuple[str, str], list[ProviderBeat]] = defaultdict(list)
        for b in beats:
            merged[(b.scope, b.provider)].append(b)
        out = [_merge(scope, provider, rows) for (scope, provider), rows in merged.items()]
        return sorted(out, key=lambda h: (h.app_id is not None, str(h.app_id or ""), h.provider))

    async def history(self, window: timedelta = timedelta(hours=1)) -> list[ChannelHistory]:
        """Per channel, a point per minute over `window` (the current minute last): deliveries
        sent and their accept-to-sent latency p50 and p95, across every worker process."""
        end = minute_of(utcnow())
        minutes = max(1, int(window.total_seconds() // 60))
        start = end - timedelta(minutes=minutes - 1)
        async with self.reads() as session:
            rows = (await session.scalars(repository.minutes_since(start))).all()
        by_key: dict[tuple[str, datetime], list[ChannelMinute]] = defaultdict(list)
        for r in rows:
            by_key[(r.channel, as_utc(r.minute))].append(r)
        series = []
        for channel in self.channels:
            points = []
            for i in range(minutes):
                at = start + timedelta(minutes=i)
                found = by_key.get((channel.value, at), [])
                buckets = latency.merge(r.latency for r in found)
                sent = sum(r.sent for r in found)
                points.append(MinutePoint(at, sent, latency.quantile(buckets, 0.5), latency.quantile(buckets, 0.95)))
            series.append(ChannelHistory(channel.value, tuple(points)))
        return series


def _merge(scope: str, provider: str, rows: list[ProviderBeat]) -> ProviderHealth:
    calls = sum(r.calls for r in rows)
    failures = sum(r.failures for r in rows)
    return ProviderHealth(
        provider=provider,
        app_id=uuid.UUID(hex=scope) if scope else None,
        state=max((r.state for r in rows), key=lambda s: _SEVERITY.get(s, 0)),
        calls=calls,
        failures=failures,
        error_rate=failures / calls if calls else None,
        reporters=len(rows),
        reported_at=max(as_utc(r.reported_at) for r in rows),
    )
