"""The monitoring figures as plain values: what the console, the CLI and the gauges read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One channel's queue. The states come from the log, `consumer_lag` and `pending` from
    the queue: on Redis the consumer group's lag (entries not yet read by any worker) and
    pending list (read, not yet acked); where the log is the queue, the ready rows (nothing
    has claimed them yet) and the leased ones."""

    channel: str
    ready: int  # queued and due
    in_flight: int  # leased to a worker (`sending`)
    scheduled: int  # waiting for their send_at
    retrying: int  # queued, not yet due: a retry's backoff or a rate limit's deferral
    dead: int  # dead letters, until replayed
    oldest_ready_age_seconds: float  # how long the oldest ready delivery has been due; 0 when none
    consumer_lag: int | None  # None: the broker cannot tell (Redis after entries were trimmed)
    pending: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    backend: str  # "embedded" (the log is the queue) or "redis"
    taken_at: datetime
    queues: tuple[QueueStats, ...]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider as the live worker processes see it, merged across them."""

    provider: str
    app_id: uuid.UUID | None  # None: a deployment-wide provider; else that app's own account
    state: str  # the worst any process reports: open, then half_open, then closed
    calls: int  # in the error window, across processes
    failures: int
    error_rate: float | None  # None without calls in the window
    reporters: int  # processes reporting it
    reported_at: datetime  # the latest report


@dataclass(frozen=True, slots=True)
class MinutePoint:
    minute: datetime
    sent: int
    p50_seconds: float | None  # accept-to-sent latency; None when nothing was sent
    p95_seconds: float | None


@dataclass(frozen=True, slots=True)
class ChannelHistory:
    """A channel's last minutes, oldest first, one point per minute (empty minutes included)."""

    channel: str
    points: tuple[MinutePoint, ...]
