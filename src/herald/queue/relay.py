"""The outbox relay: publishes committed outbox rows to the broker, then deletes them.

Any number of relays can run: rows are taken with SKIP LOCKED. On PostgreSQL the API's
transaction NOTIFYs at commit, so the relay wakes at once instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.kit.channels import Channel
from herald.kit.db import dialect_name
from herald.queue.interface import Broker
from herald.queue.models import OutboxEntry

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "herald_outbox"
_OUTBOX = cast(Table, OutboxEntry.__table__)


async def write_outbox(session: AsyncSession, entries: list[tuple[Channel, uuid.UUID]]) -> None:
    """Record announcements in the caller's transaction (and wake relays at its commit)."""
    if not entries:
        return
    await session.execute(insert(_OUTBOX), [{"channel": c.value, "delivery_id": d} for c, d in entries])
    if dialect_name(session) == "postgresql":
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


# Taking a batch is one statement: the rows are deleted and returned, and stay locked (and
# undeleted to everyone else) until the commit that follows the publish.
_TAKE = (
    delete(OutboxEntry)
    .where(
        OutboxEntry.id.in_(
            select(OutboxEntry.id)
            .order_by(OutboxEntry.id)
            .limit(bindparam("batch"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .returning(OutboxEntry.channel, OutboxEntry.delivery_id)
)


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


async def relay_once(engine: AsyncEngine, broker: Broker, batch: int = 1000) -> int:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The delete need not wait for its WAL flush: lost in a crash, the rows come back
            # and are published again, and a duplicate entry is harmless. Waiting for it held
            # the next batch back and queued with the commits that must be durable (intake,
            # lease, outcome) on the WAL write lock.
            await conn.execute(_ASYNC_COMMIT)
        rows = (await conn.execute(_TAKE, {"batch": batch})).all()
        if not rows:
            return 0
        by_channel: dict[Channel, list[uuid.UUID]] = defaultdict(list)
        for channel, delivery_id in rows:
            by_channel[Channel(channel)].append(delivery_id)
        # Published before the delete commits: a crash here publishes twice, never zero
        # times, and a duplicate entry is harmless because claims lease through the log.
        for channel, ids in by_channel.items():
            await broker.publish(channel, ids)
    return len(rows)


async def _listen(dsn: str, wake: asyncio.Event) -> Any:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    await conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
    return conn


def asyncpg_dsn(url: str) -> str | None:
    if not url.startswith("postgresql"):
        return None
    return "postgresql://" + url.split("://", 1)[1]


async def run_relay(
    engine: AsyncEngine,
    broker: Broker,
    stop: asyncio.Event,
    database_url: str,
    poll: float = 0.2,
    batch: int = 1000,
) -> None:
    wake = asyncio.Event()
    listener = None
    dsn = asyncpg_dsn(database_url)
    if dsn:
        try:
            listener = await _listen(dsn, wake)
        except Exception as exc:  # polling still works; say why latency may be higher
            log.warning("relay: LISTEN unavailable (%s); polling every %.0f ms", exc, poll * 1000)

    async def stopping() -> None:
        await stop.wait()
        wake.set()

    watcher = asyncio.create_task(stopping())
    try:
        while not stop.is_set():
            # Cleared before the batch is taken, so a NOTIFY for a commit that the batch just
            # missed wakes the next turn at once; a batch short of `batch` took all there was,
            # and asking again right away would be an empty transaction per wake-up.
            wake.clear()
            try:
                moved = await relay_once(engine, broker, batch)
            except Exception:
                log.exception("relay: publishing failed; retrying")
                moved = 0
                await asyncio.sleep(poll)
            if moved >= batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll)
    finally:
        watcher.cancel()
        if listener is not None:
            await listener.close()
