"""The in-app channel end to end: delivered into the user's feed through the usual send path,
read and changed through the backend API, every change announced to live streams."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from herald.channels.in_app import InAppMessage
from herald.feed.events import FeedEvent, RedisFeedEvents
from herald.feed.sink import FeedSink
from herald.kit.channels import Channel
from herald.kit.redis import Keys, connect
from herald.notifications.models import Delivery
from herald.runtime import Runtime
from tests import backends
from tests.harness import Herald

TEMPLATE = {
    "channels": {
        "in_app": {
            "title": "Order {{ order_id }} shipped",
            "body": "Hi {{ user.name }}, it is on its way.",
            "action_url": "https://shop.example/orders/{{ order_id }}",
            "data": {"order": "{{ order_id }}"},
        },
        "email": {"subject": "Order {{ order_id }} shipped", "text": "x"},
    }
}


async def app_of(herald: Herald, delivery_id: str) -> uuid.UUID:
    async with herald.runtime.sessions() as session:
        d = await session.get(Delivery, uuid.UUID(delivery_id))
    assert d is not None
    return d.app_id


async def delivered_item(herald: Herald, **notify: Any) -> dict[str, Any]:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    r = await herald.notify(template="shipped", channels=["in_app"], **notify)
    assert r.status_code == 202, r.text
    await herald.drain(channels=[Channel("in_app")])
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    return dict(d)


async def test_an_in_app_notification_lands_in_the_users_feed(herald: Herald) -> None:
    d = await delivered_item(herald, data={"order_id": 7})
    assert (d["state"], d["provider"]) == ("delivered", "in_app")
    assert [(a["provider"], a["outcome"]) for a in d["attempt_log"]] == [("in_app", "delivered")]
    page = (await herald.client.get("/v1/users/42/feed")).json()
    [item] = page["items"]
    assert item["id"] == d["id"]  # the item is the delivery: written once, whatever happens
    assert (item["title"], item["body"]) == ("Order 7 shipped", "Hi Ada Lovelace, it is on its way.")
    assert item["action_url"] == "https://shop.example/orders/7" and item["data"] == {"order": "7"}
    assert page["counts"] == {"unread": 1, "unseen": 1} and page["next_cursor"] is None


async def test_items_are_read_seen_archived_and_deleted_and_counted(
    herald: Herald, other_client: httpx.AsyncClient
) -> None:
    d = await delivered_item(herald, data={"order_id": 1})
    for n in (2, 3):
        await herald.notify(template="shipped", channels=["in_app"], data={"order_id": n})
    await herald.drain(channels=[Channel("in_app")])
    feed = "/v1/users/42/feed"
    items = (await herald.client.get(feed, params={"limit": 2})).json()
    assert [i["title"] for i in items["items"]] == ["Order 3 shipped", "Order 2 shipped"]
    rest = (await herald.client.get(feed, params={"cursor": items["next_cursor"]})).json()
    assert [i["title"] for i in rest["items"]] == ["Order 1 shipped"]

    async def post(path: str, ids: list[str] | None = None) -> dict[str, int]:
        r = await herald.client.post(f"{feed}/{path}", json={"ids": ids} if ids is not None else {})
        assert r.status_code == 200, r.text
        return dict(r.json()["counts"])

    assert await post("seen", [d["id"]]) == {"unread": 3, "unseen": 2}
    assert await post("read", [d["id"]]) == {"unread": 2, "unseen": 2}
    assert await post("unread", [d["id"]]) == {"unread": 3, "unseen": 2}
    assert await post("archive", [d["id"]]) == {"unread": 2, "unseen": 2}
    archived = (await herald.client.get(feed, params={"status": "archived"})).json()["items"]
    assert [i["id"] for i in archived] == [d["id"]]
    assert await post("unarchive", [d["id"]]) == {"unread": 3, "unseen": 2}
    assert await post("read-all") == {"unread": 0, "unseen": 2}
    assert (await herald.client.get(feed, params={"status": "unread"})).json()["items"] == []
    assert (await herald.client.delete(f"{feed}/{d['id']}")).status_code == 204
    assert (await herald.client.get(f"{feed}/counts")).json() == {"unread": 0, "unseen": 2}
    # Another app sees neither the user nor the items.
    assert (await other_client.get(feed)).status_code == 404
    assert (await other_client.post(f"{feed}/read", json={"ids": [d["id"]]})).status_code == 404
    assert (await herald.client.get(feed, params={"status": "nonsense"})).status_code == 422


async def test_opt_outs_apply_to_in_app_and_critical_ignores_them(herald: Herald) -> None:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    r = await herald.client.put("/v1/users/42/preferences", json={"channels": {"in_app": False}})
    assert r.status_code == 200, r.text
    skipped = await herald.notify(template="shipped", channels=["in_app"])
    forced = await herald.notify(template="shipped", channels=["in_app"], critical=True)
    await herald.drain(channels=[Channel("in_app")])
    [s] = (await herald.notification(skipped.json()["id"]))["deliveries"]
    [f] = (await herald.notification(forced.json()["id"]))["deliveries"]
    assert (s["state"], s["reason"], f["state"]) == ("skipped", "opted_out", "delivered")


async def test_a_link_that_is_not_http_is_refused_and_inline_recipients_have_no_feed(herald: Herald) -> None:
    await herald.user()
    bad = {"in_app": {"title": "t", "body": "b", "action_url": "{{ link }}"}}
    r = await herald.notify(template=None, content=bad, channels=["in_app"], data={"link": "javascript:alert(1)"})
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "render_error",
        "message": "in_app.action_url must be an http(s) URL or a path",
        "field": "in_app.action_url",
    }
    content = {"in_app": {"title": "t", "body": "b"}}
    inline = await herald.notify(
        template=None, user_id=None, recipient={"email": "a@example.com"}, content=content, channels=["in_app"]
    )
    assert inline.status_code == 202
    assert [(d["state"], d["reason"]) for d in inline.json()["deliveries"]] == [("skipped", "no_address")]


async def test_a_resend_of_the_same_delivery_writes_no_second_item(herald: Herald) -> None:
    d = await delivered_item(herald, data={"order_id": 5})
    sink = FeedSink(herald.runtime.engine, herald.runtime.feed_events)
    message = InAppMessage(uuid.UUID(d["id"]).hex, uuid.uuid4(), "42", "again", "b", None, {}, None)
    app_id = await app_of(herald, d["id"])
    sent = await sink.send(app_id, message, unknowns=1)
    assert sent.calls[0].outcome == "delivered" and "already in the feed" in (sent.calls[0].detail or "")
    [item] = (await herald.client.get("/v1/users/42/feed")).json()["items"]
    assert item["title"] == "Order 5 shipped"


async def test_every_change_is_announced_to_the_users_streams(herald: Herald) -> None:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    events: list[FeedEvent] = []
    r = await herald.notify(template="shipped", channels=["in_app"], data={"order_id": 9})
    d_id = r.json()["deliveries"][0]["id"]
    app_id = await app_of(herald, d_id)
    async with herald.runtime.feed_events.subscribe(app_id, "42") as sub:
        await herald.drain(channels=[Channel("in_app")])
        events.append(await asyncio.wait_for(sub.queue.get(), 10))
        await herald.client.post("/v1/users/42/feed/read", json={"ids": [d_id]})
        events.append(await asyncio.wait_for(sub.queue.get(), 10))
    item, counts = events
    assert (item.kind, item.item and item.item["title"], item.counts) == (
        "item",
        "Order 9 shipped",
        {"unread": 1, "unseen": 1},
    )
    assert (counts.kind, counts.counts) == ("counts", {"unread": 0, "unseen": 1})


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_with_redis_every_api_process_hears_every_event(runtime: Runtime, redis_url: str) -> None:
    keys = Keys(redis_url)
    first, second = (
        RedisFeedEvents(connect(backends.REDIS_URL), keys),
        RedisFeedEvents(connect(backends.REDIS_URL), keys),
    )
    app_id = uuid.uuid4()
    try:
        async with first.subscribe(app_id, "u1") as a, second.subscribe(app_id, "u1") as b:
            await first.publish(FeedEvent(app_id, "u1", "counts", {"unread": 4, "unseen": 4}))
            got = [await asyncio.wait_for(s.queue.get(), 10) for s in (a, b)]
        assert [e.counts["unread"] for e in got] == [4, 4]
    finally:
        for events in (first, second):
            await events.close()
            await events.redis.aclose()
