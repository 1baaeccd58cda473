"""The Redis transport: one stream per channel, one consumer group per channel.

- publish: a batch of XADDs in one script, the stream capped at about `maxlen`; the log is the truth.
- receive: XAUTOCLAIM entries idle past the lease (their consumer died; checked every quarter
  lease), then XREADGROUP for new ones, blocking up to `block_ms` for the first.
- ack: XACK, called only after the outcome is committed (or for entries the log says are stale).
- delay: a sorted set per channel, promoted into the stream by `promote_due` when due.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from herald.kit.channels import Channel
from herald.kit.redis import Keys
from herald.queue.transport import Entry, QueueDepth

log = logging.getLogger(__name__)
GROUP = "workers"
_Raw = list[tuple[bytes, dict[bytes, bytes]]]

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


class RedisTransport:
    uses_outbox = True

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, maxlen: int = 1_000_000, block_ms: int = 100) -> None:
        self.redis = redis
        self.keys = keys
        self.maxlen = maxlen
        self.block_ms = block_ms
        self._groups: set[str] = set()
        self._scanned: dict[str, float] = {}  # when a stream's pending list was last found empty
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

    async def receive(self, channel: Channel, consumer: str, limit: int, idle: timedelta) -> list[Entry]:
        stream = self.keys.stream(channel.value)
        await self._group(stream)
        try:
            raw = await self._read(stream, consumer, limit, idle)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the group (a restart without persistence, a flush): make it again.
            # Whatever the lost stream carried, the reconciler re-announces from the log.
            self._groups.discard(stream)
            await self._group(stream)
            raw = await self._read(stream, consumer, limit, idle)
        entries: list[Entry] = []
        orphans: list[str] = []
        for eid, fields in raw:
            receipt = eid.decode() if isinstance(eid, bytes) else str(eid)
            delivery = fields.get(b"d") if fields else None
            if delivery is None:
                orphans.append(receipt)
            else:
                entries.append(Entry(uuid.UUID(hex=delivery.decode()), receipt))
        if orphans:  # not written by Herald: nothing in the log can claim them
            log.warning("acking %d entries of %s that carry no delivery id", len(orphans), stream)
            await self.redis.xack(stream, GROUP, *orphans)
        return entries

    async def _read(self, stream: str, consumer: str, limit: int, idle: timedelta) -> _Raw:
        # An entry can only be taken over once it has been idle for a whole lease, so scanning
        # the pending list on every claim (a round trip and a scan each) finds nothing almost
        # always: a quarter of a lease between scans delays a takeover by at most that. A scan
        # that found something runs again next time, until the backlog of the dead is gone.
        entries: _Raw = []
        now = time.monotonic()
        if now - self._scanned.get(stream, -math.inf) >= idle.total_seconds() / 4:
            entries = await self._reclaim(stream, consumer, limit, idle)
            self._scanned[stream] = -math.inf if entries else now
        if len(entries) < limit:
            got: Any = await self.redis.xreadgroup(
                GROUP, consumer, {stream: ">"}, count=limit - len(entries), block=self.block_ms
            )
            for _, items in got or []:
                entries.extend((eid, fields) for eid, fields in items)
        return entries

    async def _reclaim(self, stream: str, consumer: str, limit: int, idle: timedelta) -> _Raw:
        idle_ms = int(idle.total_seconds() * 1000)
        result = await self.redis.xautoclaim(
            stream, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=limit
        )
        claimed = result[1] if result else []
        return [(eid, fields) for eid, fields in claimed if fields is not None]

    async def ack(self, channel: Channel, receipts: Sequence[str]) -> None:
        if receipts:
            await self.redis.xack(self.keys.stream(channel.value), GROUP, *receipts)

    async def delay(self, channel: Channel, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        if due:
            await self.redis.zadd(self.keys.delayed(channel.value), {i.hex: at.timestamp() for i, at in due})

    async def promote_due(self, channel: Channel, batch: int = 1000) -> int:
        """Move due retries and deferrals into the channel's stream; returns how many."""
        moved = await self._promote(
            keys=[self.keys.delayed(channel.value), self.keys.stream(channel.value)],
            args=[time.time(), batch, self.maxlen],
        )
        return int(moved)

    async def depth(self, channel: Channel) -> QueueDepth:
        """XINFO GROUPS' lag and pending count for the workers' group, and the delayed set's size."""
        stream = self.keys.stream(channel.value)
        delayed = int(await self.redis.zcard(self.keys.delayed(channel.value)))
        try:
            groups: list[dict[str, Any]] = await self.redis.xinfo_groups(stream)
        except ResponseError:  # no stream yet: nothing was ever published to this channel
            return QueueDepth(0, 0, delayed)
        group = next((g for g in groups if _text(g.get("name")) == GROUP), None)
        if group is None:  # no worker has read the stream yet: whatever it holds is lag
            return QueueDepth(int(await self.redis.xlen(stream)), 0, delayed)
        # `lag` is nil when Redis cannot count it (entries trimmed or deleted mid-range).
        lag = group.get("lag")
        return QueueDepth(None if lag is None else int(lag), int(group.get("pending") or 0), delayed)

    async def close(self) -> None:
        await self.redis.aclose()


def _text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None if value is None else str(value)
