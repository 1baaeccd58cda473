"""The dispatcher against a real receiver over loopback: signatures checked by the
`standardwebhooks` library itself, the retry ladder, auto-disable after days of failures
(on a stepped clock), replay, secret rotation, egress at connect time, and a killed
dispatcher's messages taken over by another."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from herald.config import Mode, Settings
from herald.kit.clock import utcnow
from herald.webhooks.dispatcher import WebhookDispatcher
from tests.harness import Herald
from tests.network import Listener, fake_dns, herald_with
from tests.webhooks.support import Clock, Receiver, delivery, record, subscribe


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


def dispatcher(h: Herald, clock: Any = utcnow, **settings: Any) -> WebhookDispatcher:
    s = h.runtime.settings.webhooks.model_copy(update=settings)
    return WebhookDispatcher(h.runtime.engine, h.runtime.vault, h.runtime.egress.accounts, s, clock=clock)


async def attempts(h: Herald, hook: dict[str, Any]) -> list[dict[str, Any]]:
    r = await h.client.get(f"/v1/webhooks/{hook['id']}/attempts")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def messages(h: Herald, hook: dict[str, Any]) -> list[dict[str, Any]]:
    r = await h.client.get(f"/v1/webhooks/{hook['id']}/messages")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_post_verifies_with_the_standardwebhooks_library(herald: Herald, receiver: Receiver) -> None:
    hook = await subscribe(herald, receiver.url, ["delivered"])
    d, event_id = await delivery(herald)
    await record(herald, d, "delivered", code="250")
    w = dispatcher(herald)
    try:
        assert await w.run_once() == 1
    finally:
        await w.close()
    [got] = receiver.received
    payload = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "delivered"
    assert (payload["data"]["delivery_id"], payload["data"]["event_id"]) == (str(d), event_id)
    [m] = await messages(herald, hook)
    assert (got.headers["webhook-id"], m["state"], m["attempts"]) == (m["id"], "delivered", 1)
    [a] = await attempts(herald, hook)
    assert (a["message_id"], a["number"], a["status_code"], a["error"]) == (m["id"], 1, 200, None)
    assert a["latency_ms"] >= 0
    with pytest.raises(WebhookVerificationError):
        Webhook(hook["secret"]).verify(got.body + b" ", got.headers)


async def test_failures_wait_on_the_ladder_then_succeed(herald: Herald, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    hook = await subscribe(herald, receiver.url, ["delivered"])
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    clock = Clock()
    w = dispatcher(herald, clock)
    try:
        assert await w.run_once() == 1  # 500
        assert await w.run_once() == 0  # not due for about 5 s
        clock.advance(timedelta(seconds=4))
        assert await w.run_once() == 0  # the jitter keeps it within 10% of the step
        clock.advance(timedelta(seconds=2))
        assert await w.run_once() == 1  # 503
        clock.advance(timedelta(minutes=4))
        assert await w.run_once() == 0
        clock.advance(timedelta(minutes=2))
        assert await w.run_once() == 1  # 200
        clock.advance(timedelta(days=1))
        assert await w.run_once() == 0
    finally:
        await w.close()
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1 and len(receiver.received) == 3
    log = await attempts(herald, hook)
    assert [(a["number"], a["status_code"]) for a in log] == [(3, 200), (2, 503), (1, 500)]
    [m] = await messages(herald, hook)
    assert (m["state"], m["attempts"], m["next_attempt_at"]) == ("delivered", 3, None)


async def test_a_message_fails_when_the_ladder_runs_out(herald: Herald, receiver: Receiver) -> None:
    receiver.statuses = [500] * 5
    hook = await subscribe(herald, receiver.url, ["delivered"])
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    clock = Clock()
    w = dispatcher(herald, clock, schedule=[timedelta(seconds=1), timedelta(seconds=10)])
    try:
        for _ in range(5):
            await w.run_once()
            clock.advance(timedelta(seconds=20))
    finally:
        await w.close()
    [m] = await messages(herald, hook)
    assert (m["state"], m["attempts"]) == ("failed", 3)
    assert len(receiver.received) == 3


async def test_an_endpoint_failing_for_days_is_disabled_and_its_messages_stop(
    herald: Herald, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 100
    hook = await subscribe(herald, receiver.url, ["delivered", "opened"])
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    clock = Clock()
    w = dispatcher(herald, clock)
    try:
        assert await w.run_once() == 1
        clock.advance(timedelta(days=4, hours=23))
        await record(herald, d, "opened")
        await w.run_once()
        assert (await herald.client.get(f"/v1/webhooks/{hook['id']}")).json()["enabled"] is True
        clock.advance(timedelta(hours=2))  # five days and an hour of nothing but failures
        await record(herald, d, "opened", dedupe="second-open")
        await w.run_once()
        got = (await herald.client.get(f"/v1/webhooks/{hook['id']}")).json()
        assert got["enabled"] is False and got["disabled_reason"].startswith("every attempt failed")
        assert got["disabled_at"] is not None and got["failing_since"] is not None
        posts = len(receiver.received)
        clock.advance(timedelta(days=2))
        assert await w.run_once() == 0
        assert len(receiver.received) == posts
        # Enabled again by its app: a fresh start, and what was owed goes out.
        receiver.statuses = []
        r = await herald.client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True})
        assert (r.json()["enabled"], r.json()["disabled_reason"], r.json()["failing_since"]) == (True, None, None)
        assert await w.run_once() == 3
    finally:
        await w.close()
    assert {m["state"] for m in await messages(herald, hook)} == {"delivered"}


async def test_a_success_resets_the_failure_period(herald: Herald, receiver: Receiver) -> None:
    receiver.statuses = [500, 200] + [500] * 10
    hook = await subscribe(herald, receiver.url, ["delivered", "opened"])
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    clock = Clock()
    w = dispatcher(herald, clock)
    try:
        assert await w.run_once() == 1  # 500: failing since now
        clock.advance(timedelta(days=3))
        assert await w.run_once() == 1  # 200
        await record(herald, d, "opened")
        clock.advance(timedelta(days=3))
        assert await w.run_once() == 1  # 500, failing since now only
    finally:
        await w.close()
    got = (await herald.client.get(f"/v1/webhooks/{hook['id']}")).json()
    assert got["enabled"] is True and got["failing_since"] is not None
    assert [a["status_code"] for a in await attempts(herald, hook)] == [500, 200, 500]


async def test_replay_one_message_and_a_time_range(herald: Herald, receiver: Receiver) -> None:
    hook = await subscribe(herald, receiver.url, ["delivered", "opened", "clicked"])
    d, _ = await delivery(herald)
    before = utcnow()
    for kind in ("delivered", "opened", "clicked"):
        await record(herald, d, kind)
    after = utcnow() + timedelta(seconds=1)
    w = dispatcher(herald)
    path = f"/v1/webhooks/{hook['id']}/replay"
    try:
        assert await w.run_once() == 3
        first = (await messages(herald, hook))[-1]
        r = await herald.client.post(path, json={"message_id": first["id"]})
        assert r.json() == {"queued": 1}
        assert await w.run_once() == 1
        assert receiver.received[-1].headers["webhook-id"] == first["id"]
        r = await herald.client.post(path, json={"since": before.isoformat(), "until": after.isoformat()})
        assert r.json() == {"queued": 3}
        assert await w.run_once() == 3
        r = await herald.client.post(
            path, json={"since": after.isoformat(), "until": (after + timedelta(1)).isoformat()}
        )
        assert r.json() == {"queued": 0}
    finally:
        await w.close()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 7 and len(set(ids)) == 3
    by_id = {m["id"]: m for m in await messages(herald, hook)}
    assert by_id[first["id"]]["attempts"] == 3 and by_id[first["id"]]["state"] == "delivered"
    assert len(await attempts(herald, hook)) == 7


async def test_during_a_rotation_both_secrets_verify(herald: Herald, receiver: Receiver) -> None:
    hook = await subscribe(herald, receiver.url, ["delivered", "opened"])
    path = f"/v1/webhooks/{hook['id']}/rotate-secret"
    new = (await herald.client.post(path, json={"overlap_seconds": 3600})).json()["secret"]
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    w = dispatcher(herald)
    try:
        await w.run_once()
        got = receiver.received[-1]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        for secret in (hook["secret"], new):
            assert Webhook(secret).verify(got.body, got.headers)["type"] == "delivered"
        # Rotated again with no overlap: only the newest secret signs.
        newest = (await herald.client.post(path, json={"overlap_seconds": 0})).json()["secret"]
        await record(herald, d, "opened")
        await w.run_once()
    finally:
        await w.close()
    got = receiver.received[-1]
    assert Webhook(newest).verify(got.body, got.headers)["type"] == "opened"
    for old in (hook["secret"], new):
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(got.body, got.headers)


async def test_a_name_rebound_to_loopback_is_refused_at_connect_time(
    settings: Settings, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved as a public-looking name, which then resolves to 127.0.0.1: nothing is sent."""
    fake_dns(monkeypatch, {"hooks.rebind.test": "127.0.0.1"})
    async with herald_with(settings, mode=Mode.PRODUCTION) as h:
        hook = await subscribe(h, f"http://hooks.rebind.test:{listener.port}/hook", ["delivered"])
        d, _ = await delivery(h)
        await record(h, d, "delivered")
        w = dispatcher(h)
        try:
            assert await w.run_once() == 1
        finally:
            await w.close()
        [a] = await attempts(h, hook)
        [m] = await messages(h, hook)
    assert listener.connections == 0
    assert a["status_code"] is None and a["error"].startswith("egress_denied")
    assert (m["state"], m["attempts"]) == ("pending", 1)


async def test_a_killed_dispatchers_messages_are_taken_over(herald: Herald, receiver: Receiver) -> None:
    receiver.hang = True
    hook = await subscribe(herald, receiver.url, ["delivered"])
    d, _ = await delivery(herald)
    await record(herald, d, "delivered")
    clock = Clock()
    killed = dispatcher(herald, clock)
    task = asyncio.create_task(killed.run_once())
    await asyncio.wait_for(receiver.arrived.wait(), 10)
    task.cancel()  # killed mid-post: nothing recorded, the message still leased to it
    await asyncio.gather(task, return_exceptions=True)
    await killed.close()
    receiver.hang = False
    receiver.release.set()
    other = dispatcher(herald, clock)
    try:
        assert await other.run_once() == 0  # still leased
        clock.advance(herald.runtime.settings.webhooks.lease + timedelta(seconds=1))
        assert await other.run_once() == 1
    finally:
        await other.close()
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        str(uuid.UUID(m["id"])) for m in await messages(herald, hook)
    ] * 2
    [m] = await messages(herald, hook)
    assert (m["state"], m["attempts"]) == ("delivered", 1)


async def test_an_endpoint_gets_at_most_its_share_of_slots(herald: Herald, receiver: Receiver) -> None:
    hook = await subscribe(herald, receiver.url, ["delivered", "opened", "clicked"])
    d, _ = await delivery(herald)
    for kind in ("delivered", "opened", "clicked"):
        await record(herald, d, kind)
    w = dispatcher(herald, per_endpoint=1)
    try:
        assert [await w.run_once() for _ in range(4)] == [1, 1, 1, 0]
    finally:
        await w.close()
    assert {m["state"] for m in await messages(herald, hook)} == {"delivered"}


async def test_the_runtimes_loop_posts_what_is_owed_until_stopped(herald: Herald, receiver: Receiver) -> None:
    """As `herald worker` and `herald run` run it: idle while no endpoint exists, then
    posting as soon as one does (the snapshot is forgotten by the API's change)."""
    stop = asyncio.Event()
    loop = asyncio.create_task(herald.runtime.webhooks(stop))
    try:
        d, _ = await delivery(herald)
        await record(herald, d, "sent")  # owed to no one
        hook = await subscribe(herald, receiver.url, ["delivered"])
        await record(herald, d, "delivered")
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        for _ in range(200):
            if (await messages(herald, hook))[0]["state"] == "delivered":
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)
    [m] = await messages(herald, hook)
    assert m["state"] == "delivered"
    assert [orjson.loads(r.body)["type"] for r in receiver.received] == ["delivered"]
