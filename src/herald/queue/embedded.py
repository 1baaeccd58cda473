"""The embedded queue: the deliveries table itself, so enqueueing commits with the request.

A claim is one UPDATE ... RETURNING that flips due `queued` rows, and `sending` rows whose
lease has expired (their worker died), to `sending` under the claimer's lease.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Executable, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.db import UtcDateTime
from herald.notifications.models import Delivery
from herald.queue.interface import Job
from herald.queue.lease import claimable, lease_values


@functools.cache
def _claim_statement() -> Executable:
    """Built once: building the statement and its cache key on every claim cost a tenth of the
    embedded process's main thread, more than SQLite took to run it."""
    now = bindparam("now", type_=UtcDateTime())
    due = (
        select(Delivery.id)
        .where(Delivery.channel == bindparam("for_channel"), claimable(now))
        .order_by(Delivery.available_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(lease_values(bindparam("owner"), now, bindparam("until", type_=UtcDateTime())))
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )


class EmbeddedBroker:
    uses_outbox = False

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._events: dict[Channel, asyncio.Event] = {}

    def _event(self, channel: Channel) -> asyncio.Event:
        return self._events.setdefault(channel, asyncio.Event())

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        # The rows are already committed as `queued`: waking the channels' workers is all.
        for channel, delivery_ids in batches.items():
            if delivery_ids:
                self._event(channel).set()

    async def claim(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        now = utcnow()
        params = {"for_channel": channel.value, "now": now, "until": now + lease, "owner": owner, "limit": limit}
        async with self._sessions() as session, session.begin():
            ids = (await session.execute(_claim_statement(), params)).scalars().all()
        # Oldest first (ids are time-ordered UUIDv7s; RETURNING promises no order).
        return [Job(i) for i in sorted(ids)]

    async def ack(self, channel: Channel, jobs: Sequence[Job]) -> None:
        # The outcome's commit moved the row out of `sending`: nothing else to forget.
        return None

    async def defer(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        # The row's available_at already says when: claims skip it until then.
        return None

    async def promote_due(self, channel: Channel) -> int:
        return 0

    async def wait(self, channel: Channel, timeout: float) -> None:
        event = self._event(channel)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        event.clear()

    async def close(self) -> None:
        for event in self._events.values():
            event.set()
