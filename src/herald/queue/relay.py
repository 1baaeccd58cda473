"""The outbox relay: publishes outbox rows that their own request did not, then deletes them.

A request publishes its deliveries itself straight after its commit (`queue.outbox`), so a
row still here after `grace` is one whose publish never happened: the process died between
commit and publish, or Redis was away. Any number of relays can run: rows are taken with
SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.clock import utcnow
from herald.queue.announce import publish
from herald.queue.models import OutboxEntry
from herald.queue.outbox import outbox_pairs
from herald.queue.transport import Broker

log = logging.getLogger(__name__)
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")
# Long enough for a request's own publish and the batched delete after it; a row older than
# this is the relay's. Publishing a row a little early costs a duplicate entry, no more.
GRACE = timedelta(seconds=5)

# Taking a batch is one statement: the rows are deleted and returned, and stay locked (and
# undeleted to everyone else) until the commit that follows the publish.
_TAKE = (
    delete(OutboxEntry)
    .where(
        OutboxEntry.id.in_(
            select(OutboxEntry.id)
            .where(OutboxEntry.created_at < bindparam("cutoff"))
            .order_by(OutboxEntry.id)
            .limit(bindparam("batch"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .returning(OutboxEntry.entries)
)


async def relay_once(engine: AsyncEngine, broker: Broker, batch: int = 100, grace: timedelta = GRACE) -> int:
    """Publish and delete up to `batch` rows older than `grace`; returns how many deliveries
    they held (a row is one write's, up to a whole batch request)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The delete need not wait for its WAL flush: lost in a crash, the rows come back
            # and are published again, and a duplicate entry is harmless.
            await conn.execute(_ASYNC_COMMIT)
        rows = (await conn.execute(_TAKE, {"batch": batch, "cutoff": utcnow() - grace})).scalars().all()
        if not rows:
            return 0
        pairs = [pair for entries in rows for pair in outbox_pairs(entries)]
        # Published before the delete commits: a crash here publishes twice, never zero
        # times, and a duplicate entry is harmless because claims lease through the log.
        await publish(broker, pairs)
    log.info("relay: published %d deliveries their requests had not", len(pairs))
    return len(pairs)


async def run_relay(
    engine: AsyncEngine,
    broker: Broker,
    stop: asyncio.Event,
    poll: float = 1.0,
    batch: int = 100,
    grace: timedelta = GRACE,
) -> None:
    while not stop.is_set():
        try:
            moved = await relay_once(engine, broker, batch, grace)
        except Exception:
            log.exception("relay: publishing failed; retrying")
            moved = 0
        if moved >= batch:  # perhaps more waiting (a row holds one or more deliveries): no pause
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll)
