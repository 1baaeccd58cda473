"""The reconciler: re-drives from the log whatever a queue lost.

A delivery that has sat `queued` past its due time, or `sending` past its lease, by more
than the grace period is announced to the broker again. Duplicate announcements are
harmless (claims lease through the log), so a lost queue entry costs latency, never the
notification. With the in-database queue there is nothing to lose, and this is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.announce import publish
from herald.queue.transport import Broker

log = logging.getLogger(__name__)


async def reconcile_once(
    sessions: async_sessionmaker[AsyncSession], broker: Broker, grace: timedelta, batch: int = 5000
) -> int:
    """Re-announce stuck deliveries; returns how many."""
    if not broker.uses_outbox:
        return 0
    now = utcnow()
    cutoff = now - grace
    stuck = (
        select(Delivery.id)
        .where(
            or_(
                (Delivery.state == DeliveryState.QUEUED)
                & (Delivery.available_at < cutoff)
                & (Delivery.updated_at < cutoff),
                (Delivery.state == DeliveryState.SENDING) & (Delivery.lease_until < cutoff),
            )
        )
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    # Touching updated_at spaces out re-announcements of one delivery by the grace period.
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(stuck))
        .values(updated_at=now)
        .returning(Delivery.id, Delivery.channel)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        rows = (await session.execute(stmt)).all()
    await publish(broker, [(i, c) for i, c in rows])
    if rows:
        log.info("reconciler: re-announced %d stuck deliveries", len(rows))
    return len(rows)


async def run_reconciler(
    sessions: async_sessionmaker[AsyncSession],
    broker: Broker,
    stop: asyncio.Event,
    grace: timedelta,
    interval: timedelta,
) -> None:
    while not stop.is_set():
        try:
            await reconcile_once(sessions, broker, grace)
        except Exception:
            log.exception("reconciler tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
