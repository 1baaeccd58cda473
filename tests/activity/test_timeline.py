"""A notification's timeline: every step and event in time order, with each delivery's
content (stored for in-app, rendered again for the rest), for the notification's app only."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from herald.events.service import Incoming
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.notifications.models import Attempt, Delivery, Notification
from tests.harness import Herald

SHIPPED = {
    "channels": {
        "email": {"subject": "Order {{ order_id }} shipped", "text": "Hi {{ user.name }}, order {{ order_id }}."},
        "in_app": {"title": "Order {{ order_id }}", "body": "On its way, {{ user.name }}"},
    }
}


async def sent(h: Herald) -> dict[str, Any]:
    """A notification by email and in-app, both sent (SMTP sandbox, the feed)."""
    await h.user()
    await h.template("shipped", SHIPPED)
    r = await h.notify(template="shipped", channels=["email", "in_app"], data={"order_id": 7})
    assert r.status_code == 202, r.text
    await h.drain(channels=[Channel("email"), Channel("in_app")])
    return dict(r.json())


async def timeline(client: httpx.AsyncClient, notification_id: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/v1/notifications/{notification_id}/timeline", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def at(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["at"])


async def test_the_timeline_tells_the_whole_story_in_order(herald: Herald) -> None:
    n = await sent(herald)
    email = next(d["id"] for d in n["deliveries"] if d["channel"] == "email")
    base = utcnow()
    events = [
        Incoming(uuid.UUID(email), "delivered", "sendgrid", base + timedelta(seconds=1), "e1"),
        Incoming(uuid.UUID(email), "opened", "herald", base + timedelta(seconds=3), "o1"),
        Incoming(uuid.UUID(email), "clicked", "herald", base + timedelta(seconds=5), "c1", detail="https://x.test/"),
        Incoming(uuid.UUID(email), "opened", "herald", base + timedelta(seconds=4), "o2"),
    ]
    async with unit_of_work(herald.runtime.sessions) as uow:
        await herald.runtime.events.record(uow, events)

    t = await timeline(herald.client, n["id"])
    items = t["items"]
    assert items == sorted(items, key=at), "oldest first"
    assert items[0]["kind"] == "accepted" and items[0]["delivery_id"] is None
    kinds = [(i["kind"], i["channel"]) for i in items]
    # Each delivery: queued, then its attempt, in that order.
    for channel in ("email", "in_app"):
        mine = [k for k, c in kinds if c == channel and k in ("queued", "attempt")]
        assert mine == ["queued", "attempt"], kinds
    attempt = next(i for i in items if i["kind"] == "attempt" and i["channel"] == "email")
    assert (attempt["provider"], attempt["outcome"], attempt["attempt"]) == ("smtp", "delivered", 1)
    assert attempt["duration_ms"] is not None
    tail = [(i["kind"], i["source"]) for i in items if i["kind"] in ("delivered", "opened", "clicked")]
    assert tail == [("delivered", "sendgrid"), ("opened", "herald"), ("opened", "herald"), ("clicked", "herald")]
    assert next(i for i in items if i["kind"] == "clicked")["detail"] == "https://x.test/"
    assert t["truncated"] is False
    engagement = {(e["delivery_id"], e["kind"]): e["count"] for e in t["engagement"]}
    assert engagement == {(email, "opened"): 2, (email, "clicked"): 1}
    assert t["notification"]["id"] == n["id"] and t["notification"]["status"] == "delivered"


async def test_content_is_stored_for_in_app_and_rendered_again_for_email(herald: Herald) -> None:
    n = await sent(herald)
    content = {c["channel"]: c for c in (await timeline(herald.client, n["id"]))["content"]}
    assert content["in_app"]["source"] == "stored"
    assert content["in_app"]["content"]["title"] == "Order 7"
    assert content["in_app"]["content"]["body"] == "On its way, Ada Lovelace"
    email = content["email"]
    assert email["source"] == "rendered" and email["template_version"] == 1
    assert email["content"]["subject"] == "Order 7 shipped"
    assert email["content"]["text"] == "Hi Ada Lovelace, order 7."
    assert "tracking" in email["note"] and "edited" not in email["note"]
    # Edited and published after the send: rendered from version 1, the one it recorded.
    edited = {"channels": {**SHIPPED["channels"], "email": {"subject": "New {{ order_id }}", "text": "x"}}}
    await herald.template("shipped", edited)
    email = {c["channel"]: c for c in (await timeline(herald.client, n["id"]))["content"]}["email"]
    assert email["content"]["subject"] == "Order 7 shipped" and email["template_version"] == 1
    assert "version 1" in email["note"] and "edited" not in email["note"]
    # Deleted: nothing to render from.
    assert (await herald.client.delete("/v1/templates/shipped")).status_code == 204
    email = {c["channel"]: c for c in (await timeline(herald.client, n["id"]))["content"]}["email"]
    assert email["source"] == "unavailable" and "deleted" in email["note"]
    assert (await timeline(herald.client, n["id"], content="false"))["content"] is None


async def test_inline_content_and_a_skipped_delivery(herald: Herald) -> None:
    r = await herald.client.post(
        "/v1/notifications",
        json={
            "event_id": "inline-1",
            "recipient": {"email": "guest@example.com", "name": "Guest"},
            "content": {"email": {"subject": "Hello {{ user.name }}", "text": "Inline"}, "sms": {"text": "x"}},
            "channels": ["email", "sms"],
        },
    )
    assert r.status_code == 202, r.text
    t = await timeline(herald.client, r.json()["id"])
    content = {c["channel"]: c for c in t["content"]}
    assert content["email"]["source"] == "rendered" and content["email"]["content"]["subject"] == "Hello Guest"
    # No phone: the SMS was skipped at the intake, never queued.
    sms = [(i["kind"], i["code"]) for i in t["items"] if i["channel"] == "sms"]
    assert sms == [("skipped", "no_address")]


async def test_a_dead_letter_replayed_shows_both(herald: Herald) -> None:
    await herald.user()
    await herald.template("shipped", SHIPPED)
    n = (await herald.notify(template="shipped", channels=["email"])).json()
    d = uuid.UUID(n["deliveries"][0]["id"])
    start = utcnow() - timedelta(minutes=10)
    async with herald.runtime.sessions() as session, session.begin():
        # Accepted ten minutes ago, tried twice, dead; replayed now.
        await session.execute(
            update(Notification).where(Notification.id == uuid.UUID(n["id"])).values(created_at=start)
        )
        await session.execute(update(Delivery).where(Delivery.id == d).values(created_at=start))
        for number in (1, 2):
            session.add(
                Attempt(
                    delivery_id=d,
                    app_id=uuid.UUID(int=0),
                    number=number,
                    provider="smtp",
                    outcome="retry",
                    code="timeout",
                    detail=None,
                    started_at=start + timedelta(minutes=number),
                    duration_ms=250,
                )
            )
        dead = {"state": "dead", "attempts": 2, "reason": "max_attempts", "finished_at": start + timedelta(minutes=3)}
        await session.execute(update(Delivery).where(Delivery.id == d).values(**dead))
    r = await herald.client.post(f"/v1/dead-letters/{d}/replay")
    assert r.status_code == 200, r.text

    items = (await timeline(herald.client, n["id"]))["items"]
    story = [(i["kind"], i.get("attempt"), i["approximate"]) for i in items]
    assert story == [
        ("accepted", None, False),
        ("queued", None, False),
        ("attempt", 1, False),
        ("attempt", 2, False),
        ("dead_lettered", None, True),
        ("replayed", None, False),
    ]
    dead_at = at(items[4])
    assert dead_at == start + timedelta(minutes=2, milliseconds=250)


async def test_another_apps_notification_is_not_found(herald: Herald, other_client: httpx.AsyncClient) -> None:
    n = await sent(herald)
    r = await other_client.get(f"/v1/notifications/{n['id']}/timeline")
    assert r.status_code == 404 and r.json()["error"]["code"] == "notification_not_found"
    r = await herald.client.get(f"/v1/notifications/{uuid.uuid4()}/timeline")
    assert r.status_code == 404
    assert (await herald.client.get("/v1/notifications/nope/timeline")).status_code == 422
