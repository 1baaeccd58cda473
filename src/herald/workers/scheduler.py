"""The scheduler: releases `scheduled` deliveries when their time comes.

It sleeps until the earliest due time (at most `max_sleep`), so a send_at is honoured to
within a tick without polling the table hard.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.announce import publish
from herald.queue.transport import Broker, Queue, transport_of

log = logging.getLogger(__name__)


async def release_due(sessions: async_sessionmaker[AsyncSession], broker: Broker, limit: int = 5000) -> int:
    """Move due scheduled deliveries to `queued` and announce them; returns how many."""
    now = utcnow()
    due = (
        select(Delivery.id)
        .where(Delivery.state == DeliveryState.SCHEDULED, Delivery.available_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(due), Delivery.state == DeliveryState.SCHEDULED)
        .values(state=DeliveryState.QUEUED, updated_at=now)
        .returning(Delivery.id, Delivery.channel)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        rows = (await session.execute(stmt)).all()
    await publish(broker, [(i, c) for i, c in rows])
    return len(rows)


async def next_due_in(sessions: async_sessionmaker[AsyncSession]) -> float | None:
    async with sessions() as session:
        at = await session.scalar(
            select(Delivery.available_at)
            .where(Delivery.state == DeliveryState.SCHEDULED)
            .order_by(Delivery.available_at)
            .limit(1)
        )
    return None if at is None else max(0.0, (at - utcnow()).total_seconds())


async def promote_due(queue: Queue) -> int:
    """Put due retries back on a transport's queues; returns how many. Where the log is the
    queue, a retry is claimable once its `available_at` has passed, with nothing to move."""
    transport = transport_of(queue)
    if transport is None:
        return 0
    return sum([await transport.promote_due(channel) for channel in Channel.all()])


async def run_scheduler(
    sessions: async_sessionmaker[AsyncSession], queue: Queue, stop: asyncio.Event, max_sleep: float = 0.25
) -> None:
    """Release scheduled sends and promote due retries, sleeping until the next is due."""
    while not stop.is_set():
        try:
            released = await release_due(sessions, queue)
            released += await promote_due(queue)
            wait = 0.0 if released else min(max_sleep, (await next_due_in(sessions)) or max_sleep)
        except Exception:
            log.exception("scheduler tick failed")
            wait = max_sleep
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.01))
        except TimeoutError:
            pass
