"""The Redis broker: one stream per channel, one consumer group per channel.

- publish: a batch of XADDs in one script, the stream capped at about `maxlen`; the log is the truth.
- claim: XAUTOCLAIM entries idle past the lease (their consumer died; checked every quarter
  lease), then XREADGROUP for new ones; then lease the deliveries in the log, and only those
  still claimable.
- ack: XACK, called only after the outcome is committed.
- defer: a sorted set per channel, promoted into the stream by `promote_due` when due.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from sqlalchemy import Executable, select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.delivery import work as work_repo
from herald.delivery.work import Work
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.db import in_list
from herald.kit.redis import Keys
from herald.notifications.models import Delivery
from herald.queue.interface import Job
from herald.queue.lease import lease_by_ids, still_sending

GROUP = "workers"

# Move due members of a delayed set into the stream, atomically, so two movers never
# promote one retry twice.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'd', id)
  redis.call('ZREM', KEYS[1], id)
end
return #due
"""


# Add a batch of entries in one command: atomic like MULTI/EXEC (a blocked reader is served
# once, with the whole batch), but one reply to parse instead of one per entry plus the
# EXEC's array; redis-py's parsing of those replies was most of the relay's CPU.
# KEYS = the streams; ARGV = maxlen, then how many ids go to each stream, then the ids. One
# call for a request's whole channel mix: its three publishes, one after the other, were a
# third of a batch request's time at 200/s (each woke a worker that then shared the CPU).
_PUBLISH = """
local n = #KEYS
local at = n + 2
for k = 1, n do
  for i = at, at + tonumber(ARGV[k + 1]) - 1 do
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[i])
  end
  at = at + tonumber(ARGV[k + 1])
end
return at - n - 2
"""


@dataclass(frozen=True, slots=True)
class _Statements:
    lease: Executable
    held: Executable


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per backend, with one SQL text for any number of ids (see `in_list`)."""
    return _Statements(
        lease=lease_by_ids(dialect).returning(Delivery.id),
        held=select(Delivery.id).where(in_list(Delivery.id, "ids", dialect), still_sending()),
    )


class RedisBroker:
    uses_outbox = True

    def __init__(
        self,
        redis: aioredis.Redis,
        reads: AsyncEngine,
        keys: Keys,
        *,
        maxlen: int = 1_000_000,
        block_ms: int = 100,
    ) -> None:
        self.redis = redis
        # Without transactions on PostgreSQL: each claim statement is atomic by itself.
        self.reads = reads
        self.keys = keys
        self.maxlen = maxlen
        self.block_ms = block_ms
        self._groups: set[str] = set()
        self._next_reclaim: dict[str, float] = {}
        self._promote = redis.register_script(_PROMOTE)
        self._publish = redis.register_script(_PUBLISH)

    async def _group(self, stream: str) -> None:
        if stream in self._groups:
            return
        try:
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    async def publish(self, batches: Mapping[Channel, Sequence[uuid.UUID]]) -> None:
        batches = {c: ids for c, ids in batches.items() if ids}
        if not batches:
            return
        # In one script: Redis serves a blocked XREADGROUP after each command, so a plain
        # pipeline woke the worker with the first entry of a batch, and the rest waited for
        # its lease and load of that one (measured: 12-17 ms p50 from XADD to read at 200/s).
        keys = [self.keys.stream(c.value) for c in batches]
        counts = [len(ids) for ids in batches.values()]
        ids = [i.hex for batch in batches.values() for i in batch]
        await self._publish(keys=keys, args=[self.maxlen, *counts, *ids])

    async def claim(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        stream = self.keys.stream(channel.value)
        await self._group(stream)
        try:
            entries = await self._read(stream, owner, limit, lease)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the group (a restart without persistence, a flush): make it again.
            # Whatever the lost stream carried, the reconciler re-announces from the log.
            self._groups.discard(stream)
            await self._group(stream)
            entries = await self._read(stream, owner, limit, lease)
        if not entries:
            return []
        receipts: dict[uuid.UUID, list[str]] = {}
        orphans: list[str] = []
        for eid, fields in entries:
            raw = fields.get(b"d") if fields else None
            if raw is None:
                orphans.append(eid.decode() if isinstance(eid, bytes) else str(eid))
                continue
            receipts.setdefault(uuid.UUID(hex=raw.decode()), []).append(
                eid.decode() if isinstance(eid, bytes) else str(eid)
            )
        leased = await self._lease(list(receipts), owner, lease)
        held = await self._held_elsewhere([i for i in receipts if i not in leased])
        # An entry whose delivery is settled, not due, or unknown is stale: the log decides,
        # so it is acked away. One still leased by a live worker stays pending, to be taken
        # over if that worker dies; duplicates of a leased entry are acked.
        stale = orphans + [r for i, rs in receipts.items() if i not in leased and i not in held for r in rs]
        extra = [r for i in leased for r in receipts[i][1:]]
        if stale or extra:
            await self.redis.xack(stream, GROUP, *(stale + extra))
        # In stream order, so that sends start oldest first.
        return [Job(i, rs[0], leased[i]) for i, rs in receipts.items() if i in leased]

    async def _read(
        self, stream: str, owner: str, limit: int, lease: timedelta
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # An entry can only be taken over once it has been idle for a whole lease, so scanning
        # the pending list on every claim (a round trip and a scan each) finds nothing almost
        # always: a quarter of a lease between scans delays a takeover by at most that. A scan
        # that found something runs again next time, until the backlog of the dead is gone.
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        now = time.monotonic()
        if now >= self._next_reclaim.get(stream, 0.0):
            entries = await self._reclaim(stream, owner, limit, lease)
            self._next_reclaim[stream] = now if entries else now + lease.total_seconds() / 4
        if len(entries) < limit:
            got: Any = await self.redis.xreadgroup(
                GROUP, owner, {stream: ">"}, count=limit - len(entries), block=self.block_ms
            )
            for _, items in got or []:
                entries.extend((eid, fields) for eid, fields in items)
        return entries

    async def _reclaim(
        self, stream: str, owner: str, limit: int, lease: timedelta
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        idle_ms = int(lease.total_seconds() * 1000)
        result = await self.redis.xautoclaim(stream, GROUP, owner, min_idle_time=idle_ms, start_id="0-0", count=limit)
        claimed = result[1] if result else []
        return [(eid, fields) for eid, fields in claimed if fields is not None]

    async def _lease(self, ids: list[uuid.UUID], owner: str, lease: timedelta) -> dict[uuid.UUID, Work | None]:
        """Lease what is still claimable: each leased id with what the send path needs where
        it could be read in the same statement (PostgreSQL: one round trip instead of three
        per claimed batch), else None."""
        now = utcnow()
        async with self.reads.begin() as conn:
            if conn.dialect.name == "postgresql":
                return {w.delivery.id: w for w in await work_repo.lease_and_load(conn, ids, owner, now, now + lease)}
            params = {"ids": ids, "owner": owner, "now": now, "until": now + lease}
            return dict.fromkeys((await conn.execute(_statements(conn.dialect.name).lease, params)).scalars().all())

    async def _held_elsewhere(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        async with self.reads.connect() as conn:
            rows = await conn.scalars(_statements(conn.dialect.name).held, {"ids": ids})
            return set(rows.all())

    async def ack(self, channel: Channel, jobs: Sequence[Job]) -> None:
        receipts = [j.receipt for j in jobs if j.receipt]
        if receipts:
            await self.redis.xack(self.keys.stream(channel.value), GROUP, *receipts)

    async def defer(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        if due:
            await self.redis.zadd(self.keys.delayed(channel.value), {i.hex: at.timestamp() for i, at in due})

    async def promote_due(self, channel: Channel, batch: int = 1000) -> int:
        """Move due retries and deferrals into the channel's stream; returns how many."""
        moved = await self._promote(
            keys=[self.keys.delayed(channel.value), self.keys.stream(channel.value)],
            args=[time.time(), batch, self.maxlen],
        )
        return int(moved)

    async def wait(self, channel: Channel, timeout: float) -> None:
        # claim() already blocked on XREADGROUP; nothing more to wait for.
        return None

    async def close(self) -> None:
        await self.redis.aclose()
