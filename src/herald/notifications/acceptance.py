"""The intake: notifications into the log, a batch request at once, single ones grouped.

Requests write to the log through a fixed number of slots: past that, a request waits here
instead of taking an overflow connection, which the pool closes again on return. Under a
flood of single requests every overflow connection was a new backend, a TLS probe and every
statement prepared afresh (measured: 10 new connections a second, 233-247/s flat out through
the single endpoint against 291-309/s with the slots). Single notifications that arrive while
every slot is writing go in together (`grouping.GroupCommit`).
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.cache.interface import ContactCache
from herald.events.kinds import EventKind
from herald.events.service import EventLog
from herald.kit.grouping import GroupCommit
from herald.kit.uow import unit_of_work
from herald.notifications.schemas import NotificationIn
from herald.notifications.service import Accepted, accept_batch
from herald.queue.outbox import Outbox
from herald.queue.transport import Broker


class Intake:
    """Accepts notifications for the API: each answer comes once its notification is committed.

    `sessions` is the intake's unit of work and `cards` where it reads users and devices;
    both are the wiring's choice (see `runtime.build_runtime`). `slots` bounds the writes
    at once, `max_group` the single notifications committed together.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        outbox: Outbox | None,
        cards: ContactCache,
        *,
        slots: int,
        max_group: int,
        events: EventLog | None = None,
        single: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        # PostgreSQL: sessions without BEGIN and COMMIT, for a batch written by one statement
        # with its `accepted` counted in it (`EventLog.foldable`: no webhook message owed).
        self._single = single
        # Consumers of `accepted` (webhooks out, rollups): `sessions` must then be
        # transactional, as their writes commit with the notifications or not at all.
        self._events = events if events is not None and events.consumers else None
        self.cards = cards
        self._broker = broker
        self._outbox = outbox
        self._slots = asyncio.Semaphore(max(1, slots))
        self._singles = GroupCommit(self._accept_group, self._slots, runners=max(1, slots), max_group=max_group)

    async def accept(self, app_id: uuid.UUID, reqs: list[NotificationIn]) -> list[Accepted]:
        """A batch request's notifications, committed once it has a slot."""
        async with self._slots:
            return await self._accept_group(app_id, reqs)

    async def accept_single(self, app_id: uuid.UUID, req: NotificationIn) -> Accepted:
        """One notification, committed with whichever others are waiting for the intake."""
        return await self._singles.accept(app_id, req)

    async def _accept_group(self, app_id: uuid.UUID, reqs: list[NotificationIn]) -> list[Accepted]:
        """Into the log, under a slot its caller holds.

        When no consumer but the rollups wants the batch's `accepted` (`EventLog.foldable`), its
        counts are staged from the plan's own tuples, no event objects built: on PostgreSQL by
        the one statement, without a transaction; on SQLite in the batch's transaction."""
        events = self._events
        fold = events is not None and await events.foldable({(app_id, EventKind.ACCEPTED)})
        sessions = self._single if fold and self._single is not None else self.sessions
        async with unit_of_work(sessions) as uow:
            return await accept_batch(
                uow, self._broker, self._outbox, self.cards, app_id, reqs, events=events, fold=fold
            )
