"""The queue gauges, refreshed from a snapshot every `sample_interval` by the processes that
serve /metrics (the API), so a scrape reads memory and never runs a count.

Each API process samples for itself: with `herald api --workers 4` that is four snapshots
per interval (a few scans of the partial indexes each, bounded by the backlog, never the
history), which costs less than electing one sampler and handing its figures to the others.
The figures are deployment-wide, so a dashboard takes `max by (channel)` over the processes.
"""

from __future__ import annotations

import asyncio
import logging
import math

from herald.kit import metrics
from herald.monitoring.schemas import Snapshot
from herald.monitoring.service import Monitor

log = logging.getLogger(__name__)


def publish(snapshot: Snapshot) -> None:
    """Set the gauges from a snapshot."""
    for q in snapshot.queues:
        labels = (q.channel, snapshot.backend)
        metrics.QUEUE_READY.labels(*labels).set(q.ready)
        metrics.QUEUE_IN_FLIGHT.labels(*labels).set(q.in_flight)
        metrics.QUEUE_SCHEDULED.labels(*labels).set(q.scheduled)
        metrics.QUEUE_RETRYING.labels(*labels).set(q.retrying)
        metrics.QUEUE_DEAD.labels(*labels).set(q.dead)
        metrics.QUEUE_OLDEST_READY_AGE.labels(*labels).set(q.oldest_ready_age_seconds)
        metrics.QUEUE_CONSUMER_LAG.labels(*labels).set(math.nan if q.consumer_lag is None else q.consumer_lag)
    metrics.QUEUE_SAMPLED.set(snapshot.taken_at.timestamp())


async def sample_once(monitor: Monitor) -> Snapshot:
    snapshot = await monitor.snapshot()
    publish(snapshot)
    return snapshot


async def run_sampler(monitor: Monitor, stop: asyncio.Event, interval: float) -> None:
    """Sample every `interval` seconds until `stop`; a failed sample leaves the last figures
    (and their timestamp, which says how old they are)."""
    while not stop.is_set():
        try:
            await sample_once(monitor)
        except Exception as exc:
            log.warning("sampling the queues failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
