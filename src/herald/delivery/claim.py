"""The claim: what a queue offers, leased to one worker in the log, handed to the send path.

Written once for every queue. A transport's entries are only hints: an id is leased if the
log says it is still claimable (due and `queued`, or `sending` under a lease that ran out),
so a duplicate entry never sends twice. Entries whose delivery is settled, not due or unknown
are stale and acked away; an entry whose delivery another worker holds stays pending, to be
received again (taken over) if that worker dies. Where the log is the queue (embedded), the
lease itself picks the channel's due rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from herald.delivery import work
from herald.delivery.work import Due, Pick, Work
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.queue.embedded import EmbeddedQueue
from herald.queue.transport import Entry, Queue, Transport, transport_of


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery: `sending` under the claimer's lease in the log."""

    delivery_id: uuid.UUID
    receipt: str | None = None  # the transport's handle on the entry that carried it, to ack it
    # What the send path needs, where the lease could read it in the same statement.
    work: Work | None = None


class Claim:
    """Leases deliveries to workers, from whichever queue carries them.

    `engine` runs the leases. They are writes: on SQLite the write engine; on PostgreSQL an
    autocommit engine, since each lease is one statement, atomic by itself, and BEGIN and
    COMMIT would be two more round trips per claimed batch.
    """

    def __init__(self, engine: AsyncEngine, queue: Queue) -> None:
        self.engine = engine
        self.transport = transport_of(queue)
        self._log = queue if isinstance(queue, EmbeddedQueue) else None
        # One statement leases, loads and finds the templates (`work.lease_and_load`).
        self._fast = engine.dialect.name == "postgresql"

    async def take(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        """Up to `limit` deliveries of `channel`, leased to `owner` for `lease`, oldest first."""
        if self.transport is None:
            leased = await self._lease(Due(channel.value, limit), owner, lease)
            # Ids are time-ordered UUIDv7s, and RETURNING promises no order.
            return [Job(i, None, leased[i]) for i in sorted(leased)]
        entries = await self.transport.receive(channel, owner, limit, lease)
        if not entries:
            return []
        return await self._from_entries(self.transport, channel, entries, owner, lease)

    async def wait(self, channel: Channel, timeout: float) -> None:
        """After a claim that found nothing: return when work may be there, or after `timeout`.
        A transport's receive has blocked for it already; the embedded queue waits for a wake-up."""
        if self._log is not None:
            await self._log.wait(channel, timeout)

    async def _from_entries(
        self, transport: Transport, channel: Channel, entries: Sequence[Entry], owner: str, lease: timedelta
    ) -> list[Job]:
        receipts: dict[uuid.UUID, list[str]] = {}
        for entry in entries:
            receipts.setdefault(entry.delivery_id, []).append(entry.receipt)
        leased = await self._lease(list(receipts), owner, lease)
        held = await self._held([i for i in receipts if i not in leased])
        stale = [r for i, rs in receipts.items() if i not in leased and i not in held for r in rs]
        duplicates = [r for i in leased for r in receipts[i][1:]]
        if stale or duplicates:
            await transport.ack(channel, stale + duplicates)
        # In the transport's order, so that sends start oldest first.
        return [Job(i, rs[0], leased[i]) for i, rs in receipts.items() if i in leased]

    async def _lease(self, pick: Pick, owner: str, lease: timedelta) -> dict[uuid.UUID, Work | None]:
        """Each leased id, with its work where the lease could load it, else None."""
        now = utcnow()
        async with self.engine.begin() as conn:
            if self._fast:
                return {w.delivery.id: w for w in await work.lease_and_load(conn, pick, owner, now, now + lease)}
            return dict.fromkeys(await work.lease(conn, pick, owner, now, now + lease))

    async def _held(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            return await work.held(conn, ids)
