"""The transactional outbox: queue announcements committed with the log, published at once.

With a broker outside the database (Redis), a request cannot commit and publish atomically.
Its transaction writes one outbox row holding its queued deliveries; straight after the
commit the request publishes those deliveries itself, and the rows are deleted a batch at a
time. Only
a row that outlives the relay's grace period is published by the relay: the process died
between its commit and its publish, or Redis was away. Either way an entry may reach its
stream twice but never zero times, and a duplicate entry costs a read: claims lease through
the log.

Publishing from the request saves the relay's hop: a wake-up by NOTIFY, a DELETE and a
commit before the entry reached the stream (about a third of the time from accept to
XADD at 1,000 deliveries/s), and the relay's CPU.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.kit.db import in_list
from herald.kit.uow import UnitOfWork
from herald.queue.announce import publish
from herald.queue.models import OutboxEntry
from herald.queue.transport import Broker

log = logging.getLogger(__name__)
_OUTBOX = cast(Table, OutboxEntry.__table__)


async def write_outbox(session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, str]]) -> list[int]:
    """The outbox row for (delivery id, channel) pairs, in the caller's transaction; its id."""
    if not pairs:
        return []
    row = {"entries": [[str(d), c] for d, c in pairs]}
    return [int(await session.scalar(insert(_OUTBOX).returning(_OUTBOX.c.id), row))]


def outbox_pairs(entries: Sequence[Sequence[str]]) -> list[tuple[uuid.UUID, str]]:
    """An outbox row's `entries` as (delivery id, channel) pairs."""
    return [(uuid.UUID(d), c) for d, c in entries]


class Outbox:
    """Publishes after a commit and deletes the rows whose entries went out, in batches.

    `engine` runs each delete as its own statement: on PostgreSQL an autocommit engine, so a
    sweep is one round trip, not BEGIN, DELETE and COMMIT.
    """

    def __init__(self, engine: AsyncEngine, broker: Broker, *, sweep_interval: float = 0.05) -> None:
        self.engine = engine
        self.broker = broker
        self.sweep_interval = sweep_interval
        self._done: list[int] = []
        self._sweep: asyncio.Task[None] | None = None
        self._delete = delete(OutboxEntry).where(in_list(OutboxEntry.id, "ids", engine.dialect.name))

    async def write(self, session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, str]]) -> list[int]:
        return await write_outbox(session, pairs)

    def publish_after_commit(self, uow: UnitOfWork, pairs: list[tuple[uuid.UUID, str]], row_ids: list[int]) -> None:
        """Once `uow` commits, publish `pairs`, whose outbox rows are `row_ids`."""
        if not pairs:
            return

        async def hook() -> None:
            try:
                await publish(self.broker, pairs)
            except Exception as exc:  # not retried here: the rows stay, and the relay takes them
                log.warning("publishing %d deliveries after commit failed; the relay will: %s", len(pairs), exc)
                return
            self.published(row_ids)

        uow.after_commit(hook)

    def published(self, row_ids: list[int]) -> None:
        """These rows' entries are on their streams: delete the rows soon, with others."""
        if not row_ids:
            return
        self._done.extend(row_ids)
        if self._sweep is None:
            self._sweep = asyncio.create_task(self._run_sweep())

    async def _run_sweep(self) -> None:
        await asyncio.sleep(self.sweep_interval)
        ids, self._done, self._sweep = self._done, [], None
        try:
            async with self.engine.begin() as conn:
                await conn.execute(self._delete, {"ids": ids})
        except Exception as exc:
            log.warning("deleting %d published outbox rows failed; the relay publishes them again: %s", len(ids), exc)

    async def settled(self) -> None:
        """Wait until every published row's delete has run, so no sweep is left in flight."""
        while self._sweep is not None:
            await self._sweep

    async def close(self) -> None:
        await self.settled()
