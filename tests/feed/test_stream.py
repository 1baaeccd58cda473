"""The live stream itself (the generator behind GET /v1/me/feed/stream): what a reconnecting
client is replayed, then the live items and counts, an item never twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import cast

import orjson
from sqlalchemy import select

from herald.apps.models import App
from herald.channels.in_app import InAppMessage
from herald.feed.events import FeedEvent
from herald.feed.sink import FeedSink
from herald.feed.stream import stream
from herald.kit.ids import uuid7
from tests.harness import Herald


def message(title: str) -> InAppMessage:
    """Its id is time-ordered, like a delivery's: what a replay relies on."""
    return InAppMessage(uuid7().hex, uuid.uuid4(), "42", title, "b", None, {}, None)


def parsed(chunk: bytes) -> tuple[str, str | None, dict[str, object]]:
    """(event, id, data) of one event the stream yielded."""
    fields = dict(line.split(": ", 1) for line in chunk.decode().strip().split("\n"))
    return fields["event"], fields.get("id"), orjson.loads(fields["data"])


async def test_a_reconnect_replays_what_it_missed_then_goes_live(herald: Herald) -> None:
    await herald.user()
    async with herald.runtime.sessions() as session:
        app_id = await session.scalar(select(App.id))
    assert app_id is not None
    sink = FeedSink(herald.runtime.engine, herald.runtime.feed_events)
    seen, missed = message("seen"), message("missed")
    for m in (seen, missed):
        await sink.send(app_id, m, unknowns=0)
    ids = {m.title: str(uuid.UUID(hex=m.key)) for m in (seen, missed)}
    since = uuid.UUID(ids["seen"])
    live = cast(AsyncGenerator[bytes], stream(herald.runtime.sessions, herald.runtime.feed_events, app_id, "42", since))

    async def next_event() -> tuple[str, str | None, dict[str, object]]:
        return parsed(await asyncio.wait_for(anext(live), 10))

    try:
        assert (await asyncio.wait_for(anext(live), 10)).startswith(b"retry: ")
        kind, eid, data = await next_event()
        assert (kind, eid, data["title"]) == ("item", ids["missed"], "missed")  # only what came after
        assert await next_event() == ("counts", None, {"unread": 2, "unseen": 2})
        # The replayed item announced again (it was written while the stream caught up): not resent.
        await herald.runtime.feed_events.publish(
            FeedEvent(app_id, "42", "item", {"unread": 2, "unseen": 2}, {"id": ids["missed"], "title": "missed"})
        )
        assert await next_event() == ("counts", None, {"unread": 2, "unseen": 2})
        new = message("new")
        await sink.send(app_id, new, unknowns=0)
        kind, eid, data = await next_event()
        assert (kind, eid, data["title"]) == ("item", str(uuid.UUID(hex=new.key)), "new")
        assert await next_event() == ("counts", None, {"unread": 3, "unseen": 3})
    finally:
        await live.aclose()
