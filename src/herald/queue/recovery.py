"""Recovery at start-up: re-drive at once what a dead predecessor held, where that is safe.

A worker's lease normally runs out before anyone else may take its deliveries (60 s by
default), because another live process may still be sending them. A `herald run` that holds
its embedded database exclusively (`kit.filelock`) knows better: it is the only process, so
every delivery still `sending` was leased by one that died. Those leases are expired now,
and the next claim takes them over like any expired lease: counted as an unknown outcome,
its lost send written to the attempt log, asked of the provider or resent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState

log = logging.getLogger(__name__)


async def expire_orphaned_leases(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Expire every lease in the log; only for a process that is certain to be alone."""
    expired = utcnow() - timedelta(seconds=1)
    stmt = (
        update(Delivery)
        .where(Delivery.state == DeliveryState.SENDING, Delivery.lease_until > expired)
        .values(lease_until=expired)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        count = (await session.execute(stmt)).rowcount or 0  # type: ignore[attr-defined]
    if count:
        log.warning("recovery: %d deliveries were being sent when the last run stopped; re-driving them now", count)
    return count
