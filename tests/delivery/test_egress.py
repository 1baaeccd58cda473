"""Web push sends under the egress rules, end to end: checked on the addresses a name resolves
to when Herald connects, not only on the endpoint registered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from herald.config import Mode, Settings
from herald.providers.registry import reveal
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.webpush import WebPushSimulator
from tests.harness import Herald
from tests.network import Listener, fake_dns, herald_with, subscription, vapid_config


@pytest.fixture
async def push_sandbox() -> AsyncIterator[WebPushSimulator]:
    sim = WebPushSimulator(Inbox())
    sandbox = Sandbox([sim], sim.inbox)
    sim.base_url = f"http://127.0.0.1:{await sandbox.start('127.0.0.1', 0)}"
    yield sim
    await sandbox.stop()


async def push_to(h: Herald, sub: dict[str, object]) -> dict[str, object]:
    await h.user()
    await h.template()
    r = await h.client.post("/v1/users/42/devices", json={"platform": "web", "subscription": sub})
    assert r.status_code == 201, r.text
    sent = await h.notify(channels=["push"])
    await h.drain()
    [delivery] = (await h.notification(sent.json()["id"]))["deliveries"]
    return dict(delivery)


async def test_an_endpoint_rebound_to_loopback_is_refused_and_retired(
    settings: Settings, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered as a public-looking name, which then resolves to 127.0.0.1."""
    fake_dns(monkeypatch, {"push.rebind.test": "127.0.0.1"})
    sub = subscription(f"https://push.rebind.test:{listener.port}/wp/abc")
    async with herald_with(settings, mode=Mode.PRODUCTION, providers={"webpush": vapid_config()}) as h:
        delivery = await push_to(h, sub)
        [device] = (await h.client.get("/v1/users/42")).json()["devices"]
    assert (delivery["state"], delivery["reason"]) == ("failed", "egress_denied")
    assert (device["active"], device["retired_reason"]) == (False, "webpush:egress_denied")
    assert listener.connections == 0


async def test_development_delivers_to_the_sandbox_on_loopback(
    settings: Settings, push_sandbox: WebPushSimulator
) -> None:
    providers = {"webpush": reveal(push_sandbox.adapter_config())}
    async with herald_with(settings, providers=providers) as h:
        delivery = await push_to(h, push_sandbox.subscribe())
    assert delivery["state"] == "delivered", delivery
    assert len(push_sandbox.inbox.entries(provider="webpush")) == 1


async def test_production_never_reaches_the_sandbox(settings: Settings, push_sandbox: WebPushSimulator) -> None:
    providers = {"webpush": reveal(push_sandbox.adapter_config())}
    async with herald_with(settings, mode=Mode.PRODUCTION, providers=providers) as h:
        await h.user()
        body = {"platform": "web", "subscription": push_sandbox.subscribe()}
        r = await h.client.post("/v1/users/42/devices", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "egress_denied"
