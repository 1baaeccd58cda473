"""The SendGrid simulator's Event Webhook: configured through SendGrid's settings API, events per
recipient fate, batched, and signed; checked with Herald's verifier and the sendgrid package's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]

from herald.providers.messages import EmailMessage
from herald.providers.outcome import DeadAddress, Delivered, PermanentFailure, RetryLater
from herald.providers.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendGridAdapter,
    event_outcome,
    verify_event_signature,
)
from herald.sandbox.callbacks import CallbackSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.sendgrid import SendGridSimulator
from herald.sandbox.server import Sandbox
from tests.providers.receiver import Receiver, receiver

KEY = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000
ALL = {"processed": True, "delivered": True, "deferred": True, "bounce": True, "dropped": True}


@dataclass
class Env:
    sim: SendGridSimulator
    inbox: Inbox
    base: str
    hook: Receiver

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.sim.api_key}"}
        async with aiohttp.ClientSession() as s, s.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def send(self, *to: str) -> str:
        adapter = SendGridAdapter(self.sim.adapter_config(self.base))
        try:
            ids = []
            for address in to:
                outcome = await adapter.send(EmailMessage(key=KEY, to=address, subject="Hi", html=None, text="Hi"))
                assert isinstance(outcome, Delivered) and outcome.provider_message_id
                ids.append(outcome.provider_message_id)
        finally:
            await adapter.close()
        await self.sim.callbacks.drain()
        return ids[-1]

    def events(self) -> list[dict[str, Any]]:
        return [e for call in self.hook.calls for e in json.loads(call.body)]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with receiver() as hook:
        inbox = Inbox()
        sim = SendGridSimulator(inbox, clock=lambda: NOW)
        sim.callbacks.configure(CallbackSettings(delay_ms=0, step_ms=1, batch_window_ms=5, retry_backoff_ms=1))
        sandbox = Sandbox([sim], inbox)
        port = await sandbox.start("127.0.0.1", 0)
        env = Env(sim, inbox, f"http://127.0.0.1:{port}", hook)
        try:
            yield env
        finally:
            await sandbox.stop()


async def enable(env: Env, *, signed: bool = True, **toggles: bool) -> str:
    status, settings = await env.api(
        "PATCH", "/v3/user/webhooks/event/settings", {"enabled": True, "url": env.hook.url("/sg"), **ALL, **toggles}
    )
    assert status == 200 and settings["url"] == env.hook.url("/sg") and settings["enabled"] is True
    status, answer = await env.api("PATCH", "/v3/user/webhooks/event/settings/signed", {"enabled": signed})
    assert status == 200
    return str(answer["public_key"])


async def test_settings_api_shapes(env: Env) -> None:
    status, before = await env.api("GET", "/v3/user/webhooks/event/settings")
    assert status == 200 and before["enabled"] is False and before["url"] == ""
    assert {"bounce", "click", "deferred", "delivered", "dropped", "open", "processed", "spam_report"} <= set(before)
    key = await enable(env)
    assert key == env.sim.webhook_public_key
    assert (await env.api("GET", "/v3/user/webhooks/event/settings/signed")) == (200, {"public_key": key})
    assert (await env.api("GET", "/v3/user/webhooks/event/settings"))[1]["delivered"] is True
    assert (await env.api("PATCH", "/v3/user/webhooks/event/settings/signed", {"enabled": "yes"}))[0] == 400
    assert (await env.api("PATCH", "/v3/user/webhooks/event/settings", {"enabled": "maybe"}))[0] == 400
    assert env.sim.adapter_config(env.base).event_webhook_public_key == key
    async with aiohttp.ClientSession() as s, s.get(env.base + "/v3/user/webhooks/event/settings") as r:
        assert r.status == 401


async def test_nothing_posted_until_enabled(env: Env) -> None:
    await env.send("ada@example.com")
    assert env.hook.calls == [] and [e["event"] for e in env.sim.events] == ["processed", "delivered"]


async def test_delivered_events_signed_and_verified_by_both(env: Env) -> None:
    key = await enable(env)
    message_id = await env.send("ada@example.com")
    verifier = EventWebhook()
    public = verifier.convert_public_key_to_ecdsa(key)
    for call in env.hook.calls:
        sig, ts = call.headers[SIGNATURE_HEADER], call.headers[TIMESTAMP_HEADER]
        assert call.headers["Content-Type"] == "application/json" and ts == str(NOW)
        assert verify_event_signature(key, call.body, sig, ts)
        assert verifier.verify_signature(call.body.decode(), sig, ts, public)
        tampered = call.body.replace(b"ada@", b"eve@")
        assert not verify_event_signature(key, tampered, sig, ts)
        assert not verifier.verify_signature(tampered.decode(), sig, ts, public)
        assert not verify_event_signature(key, call.body, sig, str(NOW + 1))
        assert not verifier.verify_signature(call.body.decode(), sig, str(NOW + 1), public)
    events = env.events()
    assert sorted(e["event"] for e in events) == ["delivered", "processed"]
    for e in events:
        assert e["email"] == "ada@example.com" and e["timestamp"] == NOW and e["herald_key"] == KEY
        assert e["sg_message_id"].startswith(message_id + ".filter")
    assert len({e["sg_event_id"] for e in events}) == 2
    [delivered] = [event_outcome(e) for e in events if e["event"] == "delivered"]
    assert isinstance(delivered.outcome, Delivered) and delivered.message_id == message_id
    assert [e.destination for e in env.inbox.entries(provider="sendgrid")] == ["ada@example.com"]


@pytest.mark.parametrize(
    ("address", "events", "kind", "in_inbox"),
    [
        ("bounce.ada@example.com", ["processed", "bounce"], DeadAddress, False),
        ("blocked.ada@example.com", ["processed", "bounce"], RetryLater, False),
        ("deferred.ada@example.com", ["processed", "deferred", "delivered"], Delivered, True),
        ("unsubscribed.ada@example.com", ["dropped"], DeadAddress, False),
        ("dropped.ada@example.com", ["dropped"], PermanentFailure, False),
    ],
)
async def test_fates_by_address(env: Env, address: str, events: list[str], kind: type, in_inbox: bool) -> None:
    await enable(env)
    await env.send(address)
    got = env.events()
    steps = {"processed": 0, "dropped": 0, "deferred": 1}
    assert sorted((e["event"] for e in got), key=lambda n: steps.get(n, 2)) == events
    last = event_outcome(next(e for e in got if e["event"] == events[-1]))
    assert isinstance(last.outcome, kind)
    assert bool(env.inbox.entries(destination=address)) is in_inbox
    if address.startswith("blocked"):
        assert next(e for e in got if e["event"] == "bounce")["type"] == "blocked"


async def test_a_hard_bounce_drops_the_next_send(env: Env) -> None:
    await enable(env)
    await env.send("bounce.ada@example.com")
    env.hook.calls.clear()
    await env.send("bounce.ada@example.com")
    [dropped] = env.events()
    assert (dropped["event"], dropped["reason"]) == ("dropped", "Bounced Address")


async def test_toggles_filter_events_and_unsigned_has_no_signature(env: Env) -> None:
    await enable(env, signed=False, processed=False)
    await env.send("ada@example.com")
    assert [e["event"] for e in env.events()] == ["delivered"]
    assert all(SIGNATURE_HEADER not in c.headers for c in env.hook.calls)


async def test_events_are_batched(env: Env) -> None:
    await enable(env)
    env.sim.callbacks.configure(CallbackSettings(delay_ms=0, step_ms=0, batch_window_ms=60_000, batch_max=4))
    await env.send(*(f"user{n}@example.com" for n in range(5)))
    sizes = sorted(len(json.loads(c.body)) for c in env.hook.calls)
    assert sizes == [2, 4, 4]  # 10 events, at most 4 a batch; drain flushes the rest


async def test_retried_batches_are_signed_again(env: Env) -> None:
    key = await enable(env)
    env.hook.answers = [500]
    await env.send("ada@example.com")
    assert env.hook.failed == 1
    for call in env.hook.calls:
        assert verify_event_signature(key, call.body, call.headers[SIGNATURE_HEADER], call.headers[TIMESTAMP_HEADER])
    assert sorted(e["event"] for e in env.events()) == ["delivered", "processed"]
