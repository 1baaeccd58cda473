"""The end user's own feed: their items only, and the live stream (SSE) with Last-Event-ID resume,
served by a real server so that the stream is read as it arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from herald.api.app import create_app
from herald.kit.channels import Channel
from tests.browser.hosting import serve_asgi
from tests.feed.test_feed import TEMPLATE
from tests.harness import Bearer, Herald, end_user_token

Event = tuple[str, str | None, Any]  # (event, id, data)


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The stream's events as they arrive (pings and the retry hint left out)."""
    kind, event_id, data = "message", None, b""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = line[6:].encode()
        elif line == "" and data:
            yield kind, event_id, orjson.loads(data)
            kind, event_id, data = "message", None, b""


@asynccontextmanager
async def stream(origin: str, token: str, last: str | None = None) -> AsyncIterator[AsyncIterator[Event]]:
    headers = {"Last-Event-ID": last} if last else {}
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", f"{origin}/v1/me/feed/stream", params={"token": token}, headers=headers) as response,
    ):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        yield events(response)


async def next_event(source: AsyncIterator[Event], kind: str) -> Event:
    async with asyncio.timeout(20):
        async for event in source:
            if event[0] == kind:
                return event
    raise AssertionError(f"the stream ended before a {kind} event")


async def send(herald: Herald, order: int) -> str:
    r = await herald.notify(template="shipped", channels=["in_app"], data={"order_id": order})
    assert r.status_code == 202, r.text
    await herald.drain(channels=[Channel("in_app")])
    return str(r.json()["deliveries"][0]["id"])


async def test_the_stream_sends_items_live_and_replays_what_a_reconnect_missed(herald: Herald) -> None:
    await herald.user()
    await herald.template("shipped", TEMPLATE)
    token = await end_user_token(herald.client, "42")
    async with serve_asgi(create_app(herald.runtime.api_services())) as origin:
        async with stream(origin, token) as live:
            assert (await next_event(live, "counts"))[2] == {"unread": 0, "unseen": 0}
            first = await send(herald, 1)
            _, event_id, item = await next_event(live, "item")
            assert (event_id, item["id"], item["title"]) == (first, first, "Order 1 shipped")
            assert (await next_event(live, "counts"))[2] == {"unread": 1, "unseen": 1}
            mine = httpx.AsyncClient(base_url=origin, auth=Bearer(token))
            async with mine:
                assert (await mine.post("/v1/me/feed/read", json={"ids": [first]})).status_code == 200
            assert (await next_event(live, "counts"))[2] == {"unread": 0, "unseen": 1}
        second = await send(herald, 2)  # while no stream is connected
        async with stream(origin, token, last=first) as resumed:
            _, event_id, item = await next_event(resumed, "item")
            assert (event_id, item["title"]) == (second, "Order 2 shipped")  # only what it missed
            assert (await next_event(resumed, "counts"))[2] == {"unread": 1, "unseen": 2}


async def test_a_stream_needs_a_valid_token_and_answers_only_allowed_origins(herald: Herald) -> None:
    await herald.user()
    token = await end_user_token(herald.client, "42")
    r = await herald.client.put("/v1/app/settings", json={"allowed_origins": ["https://shop.example"]})
    assert r.status_code == 200, r.text
    async with serve_asgi(create_app(herald.runtime.api_services())) as origin, httpx.AsyncClient() as c:
        url = f"{origin}/v1/me/feed/stream"
        assert (await c.get(url)).status_code == 401
        assert (await c.get(url, params={"token": token + "x"})).json()["error"]["code"] == "invalid_token"
        refused = await c.get(url, params={"token": token}, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        headers = {"Origin": "https://shop.example"}
        async with c.stream("GET", url, params={"token": token}, headers=headers) as allowed:
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == "https://shop.example"


async def test_an_end_user_reads_and_changes_only_their_own_feed(herald: Herald) -> None:
    await herald.user()
    await herald.user("43", email="grace@example.com", phone="+14155550124")
    await herald.template("shipped", TEMPLATE)
    theirs = await send(herald, 1)
    ada, grace = [Bearer(await end_user_token(herald.client, u)) for u in ("42", "43")]
    page = (await herald.client.get("/v1/me/feed", auth=ada)).json()
    assert [i["id"] for i in page["items"]] == [theirs] and page["counts"] == {"unread": 1, "unseen": 1}
    # Grace's token reaches Grace's feed only: Ada's item id changes nothing, and is not found.
    assert (await herald.client.get("/v1/me/feed", auth=grace)).json()["items"] == []
    r = await herald.client.post("/v1/me/feed/read", json={"ids": [theirs]}, auth=grace)
    assert r.json()["counts"] == {"unread": 0, "unseen": 0}
    assert (await herald.client.delete(f"/v1/me/feed/{theirs}", auth=grace)).status_code == 404
    assert (await herald.client.get("/v1/me/feed/counts", auth=ada)).json() == {"unread": 1, "unseen": 1}
    assert (await herald.client.post("/v1/me/feed/read-all", json={}, auth=ada)).json()["counts"]["unread"] == 0
    # App credentials are not an end user's.
    assert (await herald.client.get("/v1/me/feed")).status_code == 401
