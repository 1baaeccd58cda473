"""Live feed events: a new item, or new counts, for one user, to every stream of that user.

The process that changes a feed (a worker writing an item, an API process marking items
read) publishes; every API process delivers to its own connected streams. Embedded, that is
one process and a dictionary of queues. With Redis, events go through one capped stream that
every API process reads on its own (not a consumer group: each must see all), so every
process's clients get every event, and a short Redis hiccup costs no event the stream still
holds. Nothing here is the truth: a stream that reconnects replays what it missed from the
log (`Last-Event-ID`), so a lost event costs latency, never an item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from herald.kit.redis import Keys

log = logging.getLogger(__name__)

# Events a slow stream may fall behind by before it is closed (it reconnects and replays).
QUEUE_DEPTH = 256
Owner = tuple[uuid.UUID, str]


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """`item` (a new item, with the counts after it) or `counts` (after a change of state)."""

    app_id: uuid.UUID
    user_id: str
    kind: str
    counts: dict[str, int]
    item: dict[str, Any] | None = None

    def encode(self) -> bytes:
        return orjson.dumps({"a": self.app_id.hex, "u": self.user_id, "k": self.kind, "c": self.counts, "i": self.item})

    @classmethod
    def decode(cls, raw: bytes) -> FeedEvent:
        d = orjson.loads(raw)
        return cls(uuid.UUID(hex=d["a"]), d["u"], d["k"], d["c"], d["i"])


@dataclass(eq=False)
class Subscription:
    """One stream's queue of events; `overflowed` once it fell too far behind."""

    owner: Owner
    queue: asyncio.Queue[FeedEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_DEPTH))
    overflowed: bool = False


class Hub:
    """This process's streams, by the user they belong to."""

    def __init__(self) -> None:
        self._subscribers: dict[Owner, set[Subscription]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    @contextlib.asynccontextmanager
    async def subscribed(self, owner: Owner) -> AsyncIterator[Subscription]:
        """A stream's subscription, for as long as the stream lasts."""
        sub = Subscription(owner)
        self._subscribers.setdefault(owner, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers[owner]
            subs.discard(sub)
            if not subs:
                del self._subscribers[owner]

    def deliver(self, event: FeedEvent) -> None:
        for sub in self._subscribers.get((event.app_id, event.user_id), ()):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True


class FeedEvents(Protocol):
    async def publish(self, event: FeedEvent) -> None: ...

    def subscribe(self, app_id: uuid.UUID, user_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    def connected(self) -> int:
        """Streams connected to this process."""

    async def close(self) -> None: ...


class MemoryFeedEvents:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self.hub = Hub()

    async def publish(self, event: FeedEvent) -> None:
        self.hub.deliver(event)

    def subscribe(self, app_id: uuid.UUID, user_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self.hub.subscribed((app_id, user_id))

    def connected(self) -> int:
        return len(self.hub)

    async def close(self) -> None:
        return None


class RedisFeedEvents:
    """Every process: publish to one capped stream; read all of it, from when it started."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, maxlen: int = 100_000, block_ms: int = 1000) -> None:
        self.redis = redis
        self.key = keys.feed_events()
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.hub = Hub()
        self._reader: asyncio.Task[None] | None = None
        # Streams that connect together must start one reader, not one each: every reader
        # delivers every event, so each would be a copy to every stream (the SSE bench saw
        # 20 copies of each item after 200 streams opened at once).
        self._starting = asyncio.Lock()
        self._closed = False

    async def publish(self, event: FeedEvent) -> None:
        await self.redis.xadd(self.key, {"e": event.encode()}, maxlen=self.maxlen, approximate=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, app_id: uuid.UUID, user_id: str) -> AsyncIterator[Subscription]:
        async with self._starting:
            if self._reader is None or self._reader.done():
                # From the stream's last entry now, by id: XREAD's "$" means "after whatever is
                # last when this call starts", so an event added between two calls would be lost.
                self._reader = asyncio.create_task(self._read(await self._tail()), name="feed-events")
        async with self.hub.subscribed((app_id, user_id)) as sub:
            yield sub

    def connected(self) -> int:
        return len(self.hub)

    async def _tail(self) -> str:
        """The id of the stream's last entry (what came before, a stream replays from the log)."""
        last: Any = await self.redis.xrevrange(self.key, count=1)
        if not last:
            return "0-0"
        eid = last[0][0]
        return eid.decode() if isinstance(eid, bytes) else str(eid)

    async def _read(self, last: str) -> None:
        while not self._closed:
            try:
                got: Any = await self.redis.xread({self.key: last}, block=self.block_ms, count=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading feed events failed; retrying: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in got or []:
                for eid, fields in entries:
                    last = eid.decode() if isinstance(eid, bytes) else str(eid)
                    with contextlib.suppress(ValueError, KeyError):
                        self.hub.deliver(FeedEvent.decode(fields[b"e"]))

    async def close(self) -> None:
        """Stop reading: the reader ends after its current XREAD, within `block_ms`."""
        self._closed = True
        if self._reader is None or self._reader.done():
            return
        # Not cancelled in the middle of a read: with redis-py's default read timeout, a
        # cancellation there was swallowed and the read then waited for ever (tests/feed saw
        # close() hang on Python 3.11's own loop; no read timeout, no hang).
        done, _ = await asyncio.wait({self._reader}, timeout=self.block_ms / 1000 + 5)
        if not done:
            self._reader.cancel()
