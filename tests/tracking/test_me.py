"""End users report opens and clicks of their own push and in-app deliveries; reading an
in-app item opens its delivery."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from herald.events.models import DeliveryEvent, Engagement
from herald.kit.channels import Channel
from herald.kit.ids import uuid7
from tests.feed.test_feed import TEMPLATE
from tests.harness import Bearer, Herald, end_user_token


async def in_app(herald: Herald, user_id: str = "42") -> str:
    r = await herald.notify(template="shipped", user_id=user_id, channels=["in_app"], data={"order_id": 1})
    assert r.status_code == 202, r.text
    await herald.drain(channels=[Channel("in_app")])
    return str(r.json()["deliveries"][0]["id"])


async def events_of(herald: Herald, delivery_id: str) -> list[tuple[str, str | None]]:
    async with herald.runtime.sessions() as session:
        rows = await session.execute(
            select(DeliveryEvent.kind, DeliveryEvent.detail)
            .where(DeliveryEvent.delivery_id == uuid.UUID(delivery_id))
            .order_by(DeliveryEvent.kind)
        )
        return [(k, d) for k, d in rows.all()]


async def test_an_end_user_reports_opens_and_clicks_of_their_own_delivery(herald: Herald) -> None:
    await herald.user()
    await herald.user("43", email="grace@example.com")
    await herald.template("shipped", TEMPLATE)
    mine = await in_app(herald)
    ada = Bearer(await end_user_token(herald.client, "42"))
    grace = Bearer(await end_user_token(herald.client, "43"))
    url = f"/v1/me/deliveries/{mine}/events"
    r = await herald.client.post(url, json={"kind": "opened"}, auth=ada)
    assert r.status_code == 200 and r.json() == {"recorded": True}
    assert (await herald.client.post(url, json={"kind": "opened"}, auth=ada)).json() == {"recorded": False}
    click = {"kind": "clicked", "url": "https://shop.example/orders/1"}
    assert (await herald.client.post(url, json=click, auth=ada)).json() == {"recorded": True}
    assert await events_of(herald, mine) == [("clicked", "https://shop.example/orders/1"), ("opened", None)]
    # Another user of the same app, another app's user, an unknown delivery: not found.
    other = await herald.client.post(url, json={"kind": "opened"}, auth=grace)
    assert other.status_code == 404 and other.json()["error"]["code"] == "delivery_not_found"
    unknown = await herald.client.post(f"/v1/me/deliveries/{uuid7()}/events", json={"kind": "opened"}, auth=ada)
    assert unknown.status_code == 404
    bad = await herald.client.post(url, json={"kind": "delivered"}, auth=ada)
    assert bad.status_code == 422
    assert (await herald.client.post(url, json={"kind": "opened"})).status_code == 401  # an app's credentials
    assert len(await events_of(herald, mine)) == 2


async def test_another_apps_user_cannot_report_on_a_delivery(herald: Herald, other_client: httpx.AsyncClient) -> None:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    mine = await in_app(herald)
    r = await other_client.put("/v1/users/42", json={"name": "Same id, other app"})
    assert r.status_code in (200, 201)
    outsider = Bearer(await end_user_token(other_client, "42"))
    r = await other_client.post(f"/v1/me/deliveries/{mine}/events", json={"kind": "opened"}, auth=outsider)
    assert r.status_code == 404
    assert await events_of(herald, mine) == []


async def test_email_engagement_is_not_reported_by_clients(herald: Herald) -> None:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    r = await herald.notify(template="shipped", channels=["email"], data={"order_id": 1})
    await herald.drain()
    email = r.json()["deliveries"][0]["id"]
    ada = Bearer(await end_user_token(herald.client, "42"))
    answer = await herald.client.post(f"/v1/me/deliveries/{email}/events", json={"kind": "opened"}, auth=ada)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "engagement_not_reportable"


async def test_reading_a_feed_item_opens_its_delivery(herald: Herald) -> None:
    await herald.user()
    await herald.user("43", email="grace@example.com")
    await herald.template("shipped", TEMPLATE)
    first, second, graces = await in_app(herald), await in_app(herald), await in_app(herald, "43")
    ada = Bearer(await end_user_token(herald.client, "42"))
    r = await herald.client.post("/v1/me/feed/read", json={"ids": [first, graces]}, auth=ada)
    assert r.status_code == 200
    assert await events_of(herald, first) == [("opened", None)]
    assert await events_of(herald, graces) == []  # not hers: nothing read, nothing opened
    assert await events_of(herald, second) == []
    # Read again (already read): no new open; seen is not read.
    await herald.client.post("/v1/me/feed/read", json={"ids": [first]}, auth=ada)
    await herald.client.post("/v1/me/feed/seen", json={"ids": [second]}, auth=ada)
    async with herald.runtime.sessions() as session:
        counts = (await session.scalars(select(Engagement.count).where(Engagement.kind == "opened"))).all()
    assert counts == [1]
