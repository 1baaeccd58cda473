"""Every channel end to end from the API to its provider's simulator, routing and failover."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from herald.api.app import create_app
from herald.apps.service import create_app as create_client_app
from herald.config import BreakerSettings, SandboxSettings, Settings
from herald.integrations.models import Integration
from herald.kit.db import transaction
from herald.providers.registry import reveal
from herald.runtime import build_runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.stack import SandboxStack, start_sandbox
from tests.harness import Herald

IOS = "ab" * 32
ANDROID = "fcm-token-" + "x" * 40


@pytest.fixture
async def stack() -> AsyncIterator[SandboxStack]:
    s = await start_sandbox(SandboxSettings(smtp_port=0, http_port=0), from_address="Herald <noreply@herald.test>")
    yield s
    await s.stop()


@pytest.fixture
async def full(settings: Settings, stack: SandboxStack) -> AsyncIterator[Herald]:
    settings.breaker = BreakerSettings(window=10, min_calls=4, failure_ratio=0.5, cooldown=timedelta(milliseconds=300))
    runtime = build_runtime(settings, adapters=stack.adapters)
    async with transaction(runtime.sessions) as session:
        creds = await create_client_app(session, "channels", runtime.pepper)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())),
        base_url="http://herald.test",
        auth=(creds.key, creds.secret),
    )
    yield Herald(runtime, client, stack.inbox)
    await client.aclose()
    await runtime.close()


async def add_devices(h: Herald, stack: SandboxStack, user: str = "42") -> dict[str, Any]:
    sub = stack.webpush.subscribe()
    for body in (
        {"platform": "ios", "token": IOS},
        {"platform": "android", "token": ANDROID},
        {"platform": "web", "subscription": sub},
    ):
        r = await h.client.post(f"/v1/users/{user}/devices", json=body)
        assert r.status_code == 201, r.text
    return sub


async def test_one_notification_reaches_every_device(full: Herald, stack: SandboxStack) -> None:
    await full.user()
    sub = await add_devices(full, stack)
    await full.template()
    r = await full.notify(channels=["email", "sms", "push"])
    assert r.status_code == 202 and len(r.json()["deliveries"]) == 5
    await full.drain()
    got = {(e.provider, e.destination) for e in stack.inbox.entries()}
    assert got == {
        ("smtp", "ada@example.com"),
        ("twilio", "+14155550123"),
        ("apns", IOS),
        ("fcm", ANDROID),
        ("webpush", sub["endpoint"]),
    }
    n = await full.notification(r.json()["id"])
    assert n["status"] == "delivered"
    keys = {d["id"].replace("-", "") for d in n["deliveries"]}
    # Herald's key reached every protocol slot that exists (Twilio has none without a callback URL).
    assert {e.key for e in stack.inbox.entries() if e.provider != "twilio"} <= keys
    [web] = stack.inbox.entries(provider="webpush")
    assert web.body["title"] == "Shipped" and "Order 7" in web.body["body"]  # decrypted by the simulator


async def test_country_routing_by_default(full: Herald, stack: SandboxStack) -> None:
    await full.user(user_id="uk", phone="+44 7911 123456")
    await full.template()
    await full.notify(user_id="uk", channels=["sms"])
    await full.drain()
    [sms] = stack.inbox.entries()
    assert (sms.provider, sms.destination) == ("vonage", "+447911123456")


async def test_dead_token_is_retired_and_never_used_again(full: Herald, stack: SandboxStack) -> None:
    await full.user()
    await add_devices(full, stack)
    await full.template()
    stack.sandbox.simulator("apns").faults.revoked.add(IOS)
    r = await full.notify(channels=["push"])
    await full.drain()
    ios = next(d for d in (await full.notification(r.json()["id"]))["deliveries"] if d["platform"] == "ios")
    assert (ios["state"], ios["reason"]) == ("failed", "Unregistered")
    devices = {d["platform"]: d for d in (await full.client.get("/v1/users/42")).json()["devices"]}
    assert devices["ios"]["active"] is False and devices["ios"]["retired_reason"] == "apns:Unregistered"
    again = await full.notify(channels=["push"])
    assert sorted(d["platform"] for d in again.json()["deliveries"]) == ["android", "web"]


async def test_token_registered_again_after_the_410_timestamp_stays_active(full: Herald, stack: SandboxStack) -> None:
    """APNs: a 410 says when the token stopped being valid; a device registered after that
    moment holds a fresh token and must not be retired."""
    await full.user()
    await add_devices(full, stack)
    await full.template()
    apns = stack.sandbox.simulator("apns")
    apns.faults.revoked.add(IOS)
    apns.clock = lambda: time.time() - 3600  # type: ignore[attr-defined]  # it died an hour ago
    r = await full.notify(channels=["push"])
    await full.drain()
    ios = next(d for d in (await full.notification(r.json()["id"]))["deliveries"] if d["platform"] == "ios")
    assert (ios["state"], ios["reason"]) == ("failed", "Unregistered")
    devices = {d["platform"]: d for d in (await full.client.get("/v1/users/42")).json()["devices"]}
    assert devices["ios"]["active"] is True  # registered (last seen) after the timestamp
    again = await full.notify(channels=["push"])
    assert sorted(d["platform"] for d in again.json()["deliveries"]) == ["android", "ios", "web"]


async def test_dead_number_is_suppressed(full: Herald, stack: SandboxStack) -> None:
    await full.user()
    await full.template()
    stack.sandbox.simulator("twilio").faults.configure(FaultSettings(error_rates={"21610": 1.0}))
    first = await full.notify(channels=["sms"])
    await full.drain()
    stack.sandbox.simulator("twilio").faults.reset()
    second = await full.notify(channels=["sms"])
    await full.drain()
    assert (await full.notification(first.json()["id"]))["deliveries"][0]["reason"] == "21610"
    assert (await full.notification(second.json()["id"]))["deliveries"][0]["reason"] == "suppressed"
    assert stack.inbox.entries() == []


async def test_failover_to_second_provider_and_back(full: Herald, stack: SandboxStack) -> None:
    now = [0.0]
    full.runtime.router.clock = lambda: now[0]
    await full.user()
    await full.template()
    twilio = stack.sandbox.simulator("twilio")
    twilio.faults.configure(FaultSettings(error_rates={"503": 1.0}))
    ids = []
    for _ in range(6):  # one at a time, so each outcome reaches the breaker before the next call
        ids.append((await full.notify(channels=["sms"])).json()["id"])
        await full.drain()
    logs = [(await full.notification(i))["deliveries"][0] for i in ids]
    assert all(d["state"] == "delivered" and d["provider"] == "vonage" for d in logs)
    assert [a["provider"] for a in logs[0]["attempt_log"]] == ["twilio", "vonage"]
    # After enough failures the breaker opens: Twilio is not even tried.
    assert [a["provider"] for a in logs[-1]["attempt_log"]] == ["vonage"]
    twilio.faults.reset()
    now[0] += 0.35  # past the cool-down: the next call is a half-open probe
    back = await full.notify(channels=["sms"])
    await full.drain()
    d = (await full.notification(back.json()["id"]))["deliveries"][0]
    assert d["provider"] == "twilio" and [a["provider"] for a in d["attempt_log"]] == ["twilio"]
    assert full.runtime.router.breaker(None, "twilio").state == "closed"


async def test_a_recovered_second_provider_gets_its_probe(full: Herald, stack: SandboxStack) -> None:
    """A half-open breaker on the fallback provider must not be locked out by the first
    provider succeeding: its probe is only handed out when the fallback is really called."""
    now = [0.0]
    full.runtime.router.clock = lambda: now[0]
    await full.user()
    await full.template()
    vonage_breaker = full.runtime.router.breaker(None, "vonage")
    vonage_breaker.clock = lambda: now[0]
    for _ in range(4):
        vonage_breaker.record(False)
    assert vonage_breaker.state == "open"
    now[0] += 0.35  # past the cool-down: Vonage may be probed once
    assert vonage_breaker.state == "half_open"
    first = await full.notify(channels=["sms"])
    await full.drain()
    d = (await full.notification(first.json()["id"]))["deliveries"][0]
    assert d["provider"] == "twilio" and vonage_breaker.state == "half_open"
    stack.sandbox.simulator("twilio").faults.configure(FaultSettings(error_rates={"503": 1.0}))
    later = await full.notify(channels=["sms"])
    await full.drain()
    d = (await full.notification(later.json()["id"]))["deliveries"][0]
    assert d["state"] == "delivered" and d["provider"] == "vonage", d
    assert [a["provider"] for a in d["attempt_log"]] == ["twilio", "vonage"]
    assert vonage_breaker.state == "closed"


async def test_app_integrations_route_and_keep_secrets_sealed(full: Herald, stack: SandboxStack) -> None:
    base = stack.base_url
    vonage_cfg = reveal(stack.sandbox.simulator("vonage").adapter_config(base))  # type: ignore[attr-defined]
    twilio_cfg = reveal(stack.sandbox.simulator("twilio").adapter_config(base))  # type: ignore[attr-defined]
    r = await full.client.put(
        "/v1/integrations/uk-sms", json={"kind": "vonage", "countries": ["+44"], "config": vonage_cfg}
    )
    assert r.status_code == 201, r.text
    assert r.json()["config"]["api_secret"] == "**********"
    r = await full.client.put("/v1/integrations/main-sms", json={"kind": "twilio", "priority": 1, "config": twilio_cfg})
    assert r.status_code == 201
    listed = (await full.client.get("/v1/integrations")).json()
    assert twilio_cfg["auth_token"] not in str(listed)
    async with full.runtime.sessions() as s:
        sealed = [i.sealed_config for i in await s.scalars(select(Integration))]
    assert all(twilio_cfg["auth_token"] not in x and vonage_cfg["api_secret"] not in x for x in sealed)
    bad = await full.client.put("/v1/integrations/x", json={"kind": "twilio", "config": {"account_sid": "AC1"}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_provider_config"
    unknown = await full.client.put("/v1/integrations/y", json={"kind": "pigeon", "config": {}})
    assert unknown.status_code == 422
    # The name is recorded as each attempt's provider: longer than that column, it is refused.
    long = await full.client.put("/v1/integrations/" + "n" * 33, json={"kind": "twilio", "config": twilio_cfg})
    assert long.status_code == 422 and long.json()["error"]["code"] == "validation_error"
    async with full.runtime.sessions() as s:
        app_id = (await s.scalars(select(Integration.app_id))).first()
    assert app_id is not None
    accounts = await full.runtime.router._app_accounts(app_id)
    assert accounts and all(twilio_cfg["auth_token"] not in repr(a) for a in accounts)

    await full.user(user_id="uk", phone="+447911123456")
    await full.user(user_id="us", phone="+14155550123")
    await full.template()
    uk = await full.notify(user_id="uk", channels=["sms"])
    us = await full.notify(user_id="us", channels=["sms"])
    await full.drain()
    assert (await full.notification(uk.json()["id"]))["deliveries"][0]["provider"] == "uk-sms"
    assert (await full.notification(us.json()["id"]))["deliveries"][0]["provider"] == "main-sms"
    assert {e.provider for e in stack.inbox.entries()} == {"vonage", "twilio"}


async def test_changed_phone_number_is_used_on_the_very_next_send(full: Herald, stack: SandboxStack) -> None:
    await full.user(phone="+14155550123")
    await full.template()
    await full.notify(channels=["sms"])
    await full.drain()  # the contact card is now cached (in Redis on the production backend)
    await full.user(phone="+14155550199")
    await full.notify(channels=["sms"])
    await full.drain()
    assert [e.destination for e in stack.inbox.entries()] == ["+14155550123", "+14155550199"]
