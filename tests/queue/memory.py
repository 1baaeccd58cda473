"""An in-memory transport: everything a new transport must write, and nothing of the claim.

Consumer-group semantics, like Redis streams or RabbitMQ with manual acks: an entry goes to
one consumer, stays pending until acked, and goes to another consumer once it has been idle
past the caller's lease (its consumer died). Leasing, stale entries and duplicates are the
claim's (`delivery.claim`). One process only: it is the proof of the seam, not a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.kit.channels import Channel
from herald.queue.transport import Entry, QueueDepth


@dataclass
class _Pending:
    delivery_id: uuid.UUID
    consumer: str
    since: float  # monotonic: when `consumer` received it


class MemoryTransport:
    uses_outbox = True  # outside the log, like any transport: it cannot commit with it

    def __init__(self, block: float = 0.02) -> None:
        self.block = block
        self._new: dict[Channel, deque[Entry]] = defaultdict(deque)
        self._pending: dict[Channel, dict[str, _Pending]] = defaultdict(dict)
        self._delayed: dict[Channel, list[tuple[float, uuid.UUID]]] = defaultdict(list)
        self._ready: dict[Channel, asyncio.Event] = defaultdict(asyncio.Event)
        self._receipts = itertools.count(1)

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        for channel, ids in batches.items():
            self._new[channel].extend(Entry(i, str(next(self._receipts))) for i in ids)
            if ids:
                self._ready[channel].set()

    async def receive(self, channel: Channel, consumer: str, limit: int, idle: timedelta) -> list[Entry]:
        entries = self._take_over(channel, consumer, limit, idle)
        if not entries and not self._new[channel]:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready[channel].wait(), self.block)
        self._ready[channel].clear()
        now, queue = time.monotonic(), self._new[channel]
        while queue and len(entries) < limit:
            entry = queue.popleft()
            self._pending[channel][entry.receipt] = _Pending(entry.delivery_id, consumer, now)
            entries.append(entry)
        return entries

    def _take_over(self, channel: Channel, consumer: str, limit: int, idle: timedelta) -> list[Entry]:
        now = time.monotonic()
        taken: list[Entry] = []
        for receipt, p in self._pending[channel].items():
            if len(taken) == limit:
                break
            if now - p.since >= idle.total_seconds():
                p.consumer, p.since = consumer, now
                taken.append(Entry(p.delivery_id, receipt))
        return taken

    async def ack(self, channel: Channel, receipts: Sequence[str]) -> None:
        for receipt in receipts:
            self._pending[channel].pop(receipt, None)

    async def delay(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        self._delayed[channel].extend((at.timestamp(), i) for i, at in due)

    async def promote_due(self, channel: Channel) -> int:
        now = time.time()
        due = [i for at, i in self._delayed[channel] if at <= now]
        self._delayed[channel] = [(at, i) for at, i in self._delayed[channel] if at > now]
        await self.publish({channel: due})
        return len(due)

    async def depth(self, channel: Channel) -> QueueDepth:
        return QueueDepth(len(self._new[channel]), len(self._pending[channel]), len(self._delayed[channel]))

    async def close(self) -> None:
        for event in self._ready.values():
            event.set()
