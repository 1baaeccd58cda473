"""SendGrid adapter against the SendGrid simulator; webhook signatures against SendGrid's vectors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from herald.providers.messages import EmailMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.providers.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendGridAdapter,
    event_outcome,
    verify_event_signature,
)
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.sendgrid import SendGridSimulator
from herald.sandbox.server import Sandbox

KEY = "0123456789abcdef0123456789abcdef"
TO = "ada@example.com"
NOW = 1_700_000_000.0


@dataclass
class Hooks:
    url: str = ""
    calls: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)


@dataclass
class Env:
    sim: SendGridSimulator
    inbox: Inbox
    base: str
    hooks: Hooks
    adapter: SendGridAdapter


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    box = Hooks()

    async def receive(request: web.Request) -> web.Response:
        box.calls.append((await request.read(), dict(request.headers)))
        return web.Response(status=200)

    app = web.Application()
    app.add_routes([web.post("/sendgrid/events", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}/sendgrid/events"
    yield box
    await runner.cleanup()


@pytest.fixture
async def env(hooks: Hooks) -> AsyncIterator[Env]:
    inbox = Inbox()
    sim = SendGridSimulator(inbox, event_webhook_url=hooks.url, clock=lambda: NOW)
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    adapter = SendGridAdapter(sim.adapter_config(base), clock=lambda: NOW)
    yield Env(sim, inbox, base, hooks, adapter)
    await adapter.close()
    await sandbox.stop()


def mail(to: str = TO, *, text: str | None = "Hi Ada", html: str | None = "<p>Hi Ada</p>") -> EmailMessage:
    return EmailMessage(key=KEY, to=to, subject="Welcome", html=html, text=text, to_name="Ada", category="welcome")


async def post_raw(env: Env, body: Any, *, auth: bool = True) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {env.sim.api_key}"
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with aiohttp.ClientSession() as s, s.post(f"{env.base}/v3/mail/send", data=data, headers=headers) as r:
        text = await r.read()
        return r.status, dict(r.headers), (json.loads(text) if text else None)


async def test_success_carries_message_id_and_key_reaches_inbox(env: Env) -> None:
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, Delivered) and outcome.code == "202"
    assert outcome.provider_message_id and len(outcome.provider_message_id) == 22
    [entry] = env.inbox.entries(provider="sendgrid")
    assert (entry.destination, entry.key, entry.message_id) == (TO, KEY, outcome.provider_message_id)
    body = entry.body
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["personalizations"][0]["to"] == [{"email": TO, "name": "Ada"}]
    assert body["categories"] == ["welcome"] and body["from"]["email"] == "herald@example.com"


async def test_one_inbox_entry_per_recipient_personalization_key_wins(env: Env) -> None:
    body = env.adapter.payload(mail())
    body["personalizations"][0]["cc"] = [{"email": "bob@example.com"}]
    body["personalizations"].append({"to": [{"email": "cy@example.com"}]})
    body["personalizations"][0]["custom_args"]["herald_key"] = "f" * 32
    status, headers, _ = await post_raw(env, body)
    assert status == 202
    keys = {e.destination: e.key for e in env.inbox.entries(provider="sendgrid")}
    assert keys == {TO: "f" * 32, "bob@example.com": "f" * 32, "cy@example.com": KEY}
    assert {e.message_id for e in env.inbox.entries()} == {headers["X-Message-Id"]}


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("400", PermanentFailure),
        ("401", PermanentFailure),
        ("403", PermanentFailure),
        ("413", PermanentFailure),
        ("429", RetryLater),
        ("500", RetryLater),
        ("503", RetryLater),
    ],
)
async def test_every_error_row(env: Env, fault: str, kind: type) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={fault: 1.0}))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, kind) and outcome.code == fault
    assert len(env.inbox) == 0


async def test_invalid_recipient_address_is_dead(env: Env) -> None:
    outcome = await env.adapter.send(mail(to="not-an-address"))
    assert isinstance(outcome, DeadAddress) and outcome.code == "400"
    assert outcome.detail and "personalizations.0.to.0.email" in outcome.detail


async def test_wrong_api_key_is_401_in_sendgrid_words(env: Env) -> None:
    config = env.sim.adapter_config(env.base).model_copy(update={"api_key": SecretStr("SG.x.y")})
    adapter = SendGridAdapter(config)
    try:
        outcome = await adapter.send(mail())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "401"
    assert json.loads(outcome.detail or "") == {
        "errors": [
            {"field": None, "message": "The provided authorization grant is invalid, expired, or revoked", "help": None}
        ]
    }
    status, _, body = await post_raw(env, env.adapter.payload(mail()), auth=False)
    assert status == 401 and body["errors"][0]["message"] == "authorization required"


async def test_throttle_waits_until_rate_limit_reset(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=9))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("429", 9.0)
    assert isinstance(await env.adapter.send(mail()), Delivered)


async def test_429_headers_are_sendgrids(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=4))
    status, headers, body = await post_raw(env, env.adapter.payload(mail()))
    assert status == 429 and body["errors"][0]["message"] == "too many requests"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset"] == str(int(NOW) + 4)


async def test_accept_then_drop_is_unknown(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(drop_rate=1.0))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, UnknownOutcome)
    assert [e.key for e in env.inbox.entries(destination=TO)] == [KEY]


async def test_revoked_address_is_accepted_then_bounces(env: Env) -> None:
    env.sim.faults.revoked.add(TO)
    accepted = await env.adapter.send(mail())
    assert isinstance(accepted, Delivered)  # SendGrid answers 202 and bounces later
    assert env.inbox.entries(destination=TO) == []
    await env.adapter.send(mail())
    first, second = (event_outcome(e) for e in env.sim.events if e["event"] != "processed")
    assert isinstance(first.outcome, DeadAddress) and first.outcome.code == "bounce"
    assert (first.key, first.email, first.message_id) == (KEY, TO, accepted.provider_message_id)
    assert isinstance(second.outcome, DeadAddress) and second.event == "dropped"
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{env.base}/v3/suppression/bounces", headers={"Authorization": f"Bearer {env.sim.api_key}"}) as r,
    ):
        assert [b["email"] for b in await r.json()] == [TO]


async def test_bounce_events_are_posted_signed(env: Env) -> None:
    env.sim.faults.revoked.add(TO)
    await env.adapter.send(mail())
    await env.sim.callbacks.drain()
    key = env.sim.webhook_public_key
    events = []
    for raw, headers in env.hooks.calls:
        assert verify_event_signature(key, raw, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER])
        assert not verify_event_signature(key, raw + b" ", headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER])
        events += json.loads(raw)
    [event] = [e for e in events if e["event"] == "bounce"]
    assert event["herald_key"] == KEY


async def test_sandbox_mode_validates_without_delivering(env: Env) -> None:
    config = env.sim.adapter_config(env.base).model_copy(update={"sandbox_mode": True})
    adapter = SendGridAdapter(config)
    try:
        outcome = await adapter.send(mail())
    finally:
        await adapter.close()
    assert isinstance(outcome, Delivered) and outcome.code == "200"
    assert len(env.inbox) == 0


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        (lambda b: _without(b, "personalizations"), "personalizations"),
        (lambda b: b.update(personalizations=[{}] * 1001), "personalizations"),
        (lambda b: b["personalizations"][0].update(to=[]), "personalizations.0.to"),
        (lambda b: _without(b, "from"), "from.email"),
        (lambda b: b["from"].update(email="nobody"), "from.email"),
        (lambda b: _without(b, "subject"), "subject"),
        (lambda b: b.update(content=[]), "content"),
        (lambda b: b.update(content=list(reversed(b["content"]))), "content"),
        (lambda b: b["content"][0].update(value=""), "content.0.value"),
        (lambda b: b.update(mail_settings={"sandbox_mode": {"enable": "true"}}), "mail_settings.sandbox_mode.enable"),
    ],
)
async def test_validation_in_sendgrid_words(env: Env, change: Any, field_name: str) -> None:
    body = env.adapter.payload(mail())
    change(body)
    status, _, answer = await post_raw(env, body)
    assert status == 400
    assert field_name in [e["field"] for e in answer["errors"]]
    assert all(set(e) == {"field", "message", "help"} for e in answer["errors"])
    assert len(env.inbox) == 0


async def test_subject_per_personalization_is_enough(env: Env) -> None:
    body = _without(env.adapter.payload(mail()), "subject")
    body["personalizations"][0]["subject"] = "Per person"
    status, _, _ = await post_raw(env, body)
    assert status == 202


async def test_body_over_30_mb_is_413(env: Env) -> None:
    body = env.adapter.payload(mail(text="x" * (30 * 1024 * 1024)))
    status, _, answer = await post_raw(env, body)
    assert status == 413 and answer["errors"]


# SendGrid's own SDK test vectors (sendgrid-python / -ruby / -java EventWebhook tests).
SDK_VECTORS = [
    (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
        b'{"category":"example_payload","event":"test_event","message_id":"message_id"}',
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=",
        "1588788367",
    ),
    (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
        b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
        b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
        b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
        b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n',
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
        "1600112502",
    ),
]


@pytest.mark.parametrize(("key", "payload", "signature", "timestamp"), SDK_VECTORS)
def test_verify_event_signature_against_sendgrid_vectors(
    key: str, payload: bytes, signature: str, timestamp: str
) -> None:
    assert verify_event_signature(key, payload, signature, timestamp)
    assert not verify_event_signature(key, payload, signature, "1388788367")
    assert not verify_event_signature(key, b"payload", signature, timestamp)
    other = SDK_VECTORS[1][0] if key == SDK_VECTORS[0][0] else SDK_VECTORS[0][0]
    assert not verify_event_signature(other, payload, signature, timestamp)
    assert not verify_event_signature("not base64 at all", payload, signature, timestamp)


def test_sendgrid_dropped_event_maps_to_dead_address() -> None:
    [event] = json.loads(SDK_VECTORS[1][1])
    meaning = event_outcome(event)
    assert isinstance(meaning.outcome, DeadAddress) and meaning.outcome.code == "dropped"
    assert meaning.message_id == "LRzXl_NHStOGhQ4kofSm_A" and meaning.key is None


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"event": "delivered"}, Delivered),
        ({"event": "bounce", "type": "bounce"}, DeadAddress),
        ({"event": "bounce", "type": "blocked"}, RetryLater),
        ({"event": "dropped", "reason": "Spam Content"}, PermanentFailure),
        ({"event": "spamreport"}, DeadAddress),
        ({"event": "deferred"}, type(None)),
        ({"event": "processed"}, type(None)),
        ({"event": "open"}, type(None)),
    ],
)
def test_event_outcome_table(event: dict[str, Any], kind: type) -> None:
    meaning = event_outcome({**event, "email": TO, "herald_key": KEY, "sg_message_id": "abc.filter0"})
    assert isinstance(meaning.outcome, kind)
    assert (meaning.key, meaning.message_id) == (KEY, "abc")
