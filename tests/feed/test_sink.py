"""The in-app sink on its own: what it writes, the counts it announces, and a user gone meanwhile."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from herald.apps.models import App
from herald.channels.in_app import InAppMessage
from herald.feed.sink import FeedSink
from tests.harness import Herald


def message(user_id: str = "42") -> InAppMessage:
    return InAppMessage(uuid.uuid4().hex, uuid.uuid4(), user_id, "t", "b", None, {}, None)


async def app_id_of(herald: Herald) -> uuid.UUID:
    async with herald.runtime.sessions() as session:
        app_id: uuid.UUID | None = await session.scalar(select(App.id))
    assert app_id is not None
    return app_id


async def test_the_counts_announced_with_an_item_include_it_and_the_users_other_items(herald: Herald) -> None:
    await herald.user()
    app_id = await app_id_of(herald)
    sink = FeedSink(herald.runtime.engine, herald.runtime.feed_events)
    first = message()
    for m in (first, message()):
        assert (await sink.send(app_id, m, unknowns=0)).calls[0].outcome == "delivered"
    r = await herald.client.post("/v1/users/42/feed/read", json={"ids": [str(uuid.UUID(hex=first.key))]})
    assert r.status_code == 200, r.text
    async with herald.runtime.feed_events.subscribe(app_id, "42") as sub:
        third = message()
        await sink.send(app_id, third, unknowns=0)
        event = await asyncio.wait_for(sub.queue.get(), 10)
        while event.kind != "item":  # the read mark's own counts may come first on Redis
            event = await asyncio.wait_for(sub.queue.get(), 10)
    assert event.item is not None and event.item["id"] == str(uuid.UUID(hex=third.key))
    assert event.counts == {"unread": 2, "unseen": 3}


async def test_an_item_for_a_user_deleted_meanwhile_is_a_permanent_failure(herald: Herald) -> None:
    await herald.user()
    sink = FeedSink(herald.runtime.engine, herald.runtime.feed_events)
    sent = await sink.send(await app_id_of(herald), message("gone"), unknowns=0)
    assert (sent.calls[0].outcome, sent.calls[0].code) == ("permanent", "user_deleted")
    assert (await herald.client.get("/v1/users/42/feed")).json()["counts"] == {"unread": 0, "unseen": 0}
