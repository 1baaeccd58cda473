"""The consumer: a message per new event per subscribed endpoint, in the event's own
transaction, and nothing at all (no statement) for an app without endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.events.repository import Target
from herald.events.service import EventLog, Incoming, Recorded
from herald.kit.uow import unit_of_work
from herald.webhooks.consumer import TYPES, WebhookConsumer
from herald.webhooks.models import WebhookEndpoint, WebhookMessage
from herald.webhooks.schemas import WebhookType
from herald.webhooks.subscriptions import Subscriptions
from tests.harness import Herald
from tests.webhooks.support import delivery, record, subscribe

HOOK = "https://hooks.example.com/herald"


async def messages(h: Herald) -> list[WebhookMessage]:
    async with h.runtime.sessions() as session:
        return list((await session.scalars(select(WebhookMessage).order_by(WebhookMessage.id))).all())


async def test_an_event_becomes_one_message_per_subscribed_endpoint(herald: Herald) -> None:
    d, event_id = await delivery(herald)
    a = await subscribe(herald, HOOK + "/a", ["delivered"])
    b = await subscribe(herald, HOOK + "/b", ["delivered", "bounced"])
    await subscribe(herald, HOOK + "/c", ["opened"])
    at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    summary = await record(herald, d, "delivered", code="DELIVRD", occurred_at=at)
    assert len(summary.recorded) == 1
    rows = await messages(herald)
    assert sorted(str(m.endpoint_id) for m in rows) == sorted([a["id"], b["id"]])
    body = orjson.loads(rows[0].body)
    assert body["type"] == "delivered" and body["timestamp"] == "2026-12-05T10:00:00Z"
    data = body["data"]
    assert (data["delivery_id"], data["event_id"], data["code"], data["channel"]) == (
        str(d),
        event_id,
        "DELIVRD",
        "email",
    )
    assert (data["user_id"], data["template"], data["kind"]) == ("42", "order-shipped", "delivered")
    # The same event again is a duplicate on the timeline: no second message.
    await record(herald, d, "delivered", dedupe="same", occurred_at=at)
    await record(herald, d, "delivered", dedupe="same", occurred_at=at)
    assert len(await messages(herald)) == 4


@pytest.mark.parametrize(("kind", "code", "wt"), [("undelivered", "30003", "bounced"), ("bounced", "soft", "bounced")])
async def test_a_providers_undelivered_and_bounces_are_bounced(herald: Herald, kind: str, code: str, wt: str) -> None:
    d, _ = await delivery(herald)
    await subscribe(herald, HOOK, [wt])
    await record(herald, d, kind, code=code)
    [m] = await messages(herald)
    body = orjson.loads(m.body)
    assert (m.event_type, body["type"], body["data"]["kind"], body["data"]["code"]) == (wt, wt, kind, code)


async def test_a_click_carries_its_url(herald: Herald) -> None:
    d, _ = await delivery(herald)
    await subscribe(herald, HOOK, ["clicked"])
    await record(herald, d, "clicked", detail="https://shop.example.com/orders/7")
    [m] = await messages(herald)
    assert orjson.loads(m.body)["data"]["url"] == "https://shop.example.com/orders/7"


def test_every_herald_kind_has_a_webhook_type() -> None:
    from herald.events.kinds import EventKind

    assert set(TYPES) == set(EventKind)
    assert set(TYPES.values()) == set(WebhookType)


async def test_disabled_and_unsubscribed_endpoints_get_nothing(herald: Herald) -> None:
    d, _ = await delivery(herald)
    off = await subscribe(herald, HOOK + "/off", ["delivered"])
    await herald.client.patch(f"/v1/webhooks/{off['id']}", json={"enabled": False})
    await subscribe(herald, HOOK + "/opens", ["opened"])
    await record(herald, d, "delivered")
    assert await messages(herald) == []


async def test_a_rolled_back_event_leaves_no_message(herald: Herald) -> None:
    d, _ = await delivery(herald)
    await subscribe(herald, HOOK, ["delivered"])
    consumer = WebhookConsumer(herald.runtime.webhook_subscriptions)
    event = Incoming(d, "delivered", "test", datetime.now(UTC), "x")
    with pytest.raises(RuntimeError):
        async with unit_of_work(herald.runtime.sessions) as uow:
            await EventLog([consumer]).record(uow, [event])
            raise RuntimeError("the event's transaction fails after the consumer ran")
    assert await messages(herald) == []


async def test_an_endpoint_deleted_since_the_snapshot_does_not_fail_the_event(herald: Herald) -> None:
    d, _ = await delivery(herald)
    hook = await subscribe(herald, HOOK, ["delivered"])
    stale = Subscriptions(herald.runtime.read_engine, refresh=3600)
    assert await stale.endpoints(uuid.uuid4(), "delivered") == ()  # loaded: it names the endpoint
    async with unit_of_work(herald.runtime.sessions) as uow:
        await uow.session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(hook["id"])))
    summary = await record(herald, d, "delivered", consumer=WebhookConsumer(stale))
    assert len(summary.recorded) == 1 and await messages(herald) == []


@contextmanager
def statements(*engines: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    for e in engines:
        event.listen(e.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for e in engines:
            event.remove(e.sync_engine, "before_cursor_execute", count)


async def test_an_app_without_endpoints_costs_no_statement(herald: Herald) -> None:
    """Another app has an endpoint for every type; this one has none: its events are handed
    to the consumer, which neither reads nor writes anything."""
    rt = herald.runtime
    await subscribe(herald, HOOK, [t.value for t in WebhookType])
    subs = Subscriptions(rt.read_engine, refresh=3600)
    consumer = WebhookConsumer(subs)
    assert await subs.endpoints(uuid.uuid4(), "delivered") == ()  # loaded once, now warm
    other_app = uuid.uuid4()
    target = Target(uuid.uuid4(), other_app, uuid.uuid4(), "email", "42", None, "t", None, "smtp", datetime.now(UTC))
    events = [
        Recorded(Incoming(target.delivery_id, kind, "test", datetime.now(UTC), kind), target, True, True)
        for kind in TYPES
    ]
    async with rt.engine.connect() as conn:
        with statements(rt.engine, rt.read_engine) as seen:
            await consumer.recorded(conn, events)
    assert seen == []
    async with rt.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(WebhookMessage))
    assert count == 0


async def test_a_change_through_this_process_is_seen_at_once(herald: Herald) -> None:
    """The runtime's snapshot is warm and would hold for seconds: creating an endpoint
    through the API forgets it, so the very next event is owed to the new endpoint."""
    d, _ = await delivery(herald)
    await record(herald, d, "sent")  # warms the snapshot: no endpoints
    hook = await subscribe(herald, HOOK, ["delivered"])
    await record(herald, d, "delivered")
    [m] = await messages(herald)
    assert str(m.endpoint_id) == hook["id"]
