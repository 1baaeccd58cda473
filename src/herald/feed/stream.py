"""One user's live feed as Server-Sent Events: new items and counts, resumable.

The stream subscribes before it reads what it missed, so nothing falls between the replay and
the live events; an item seen in both is sent once. On (re)connect it replays from the log
every item after `Last-Event-ID` (ids are time-ordered), then the current counts, then what
happens live. A stream that falls too far behind is ended: the browser reconnects with its
Last-Event-ID and catches up from the log, instead of this process buffering without bound.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.feed import repository
from herald.feed.events import FeedEvent, FeedEvents
from herald.feed.schemas import Counts, FeedItemOut

PING_SECONDS = 15.0
# How many missed items a reconnect replays; older ones are in the feed, a page away.
REPLAY_LIMIT = 100
# How long the browser waits before reconnecting (the SSE `retry` field), in milliseconds.
RETRY_MS = 2000


def event(kind: str, data: bytes, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + data + b"\n\n"


def last_event(header: str | None) -> uuid.UUID | None:
    """The id the browser saw last; anything else (a stale or forged header) replays nothing."""
    try:
        return uuid.UUID(header) if header else None
    except ValueError:
        return None


async def _catch_up(
    sessions: async_sessionmaker[AsyncSession], app_id: uuid.UUID, user_id: str, last: uuid.UUID | None
) -> tuple[list[FeedItemOut], Counts]:
    """What the stream missed, and the counts now. A function of its own, so that the session
    is not held by the stream's frame for as long as it stays open (2 KiB a stream)."""
    async with sessions() as session:
        missed = await repository.after(session, app_id, user_id, last, REPLAY_LIMIT) if last else []
        counts = await repository.counts(session, app_id, user_id)
    return [FeedItemOut.model_validate(row) for row in missed], counts


async def stream(
    sessions: async_sessionmaker[AsyncSession],
    events: FeedEvents,
    app_id: uuid.UUID,
    user_id: str,
    last: uuid.UUID | None,
    ping: float = PING_SECONDS,
) -> AsyncIterator[bytes]:
    async with events.subscribe(app_id, user_id) as sub:
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent: set[str] = set()
        missed, counts = await _catch_up(sessions, app_id, user_id, last)
        for item in missed:
            sent.add(str(item.id))
            yield event("item", item.model_dump_json().encode(), str(item.id))
        yield event("counts", orjson.dumps(counts.model_dump()))
        del missed
        while not sub.overflowed:
            try:
                e: FeedEvent = await asyncio.wait_for(sub.queue.get(), ping)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            if e.kind == "item" and e.item is not None and e.item["id"] not in sent:
                yield event("item", orjson.dumps(e.item), e.item["id"])
            yield event("counts", orjson.dumps(e.counts))
