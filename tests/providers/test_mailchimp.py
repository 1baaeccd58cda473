"""Mailchimp Transactional adapter against its simulator, cross-checked with the official
`mailchimp-transactional` client; webhook signatures and parsing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import mailchimp_transactional  # type: ignore[import-untyped]
import orjson
import pytest
from aiohttp import web
from mailchimp_transactional.api_client import ApiClientError  # type: ignore[import-untyped]
from pydantic import SecretStr

from herald.providers.http import HttpAnswer
from herald.providers.mailchimp import (
    SIGNATURE_HEADER,
    MailchimpAdapter,
    MandrillEvent,
    error_outcome,
    outcome_of,
    recipient_outcome,
    verify_webhook,
    webhook_events,
    webhook_signature,
)
from herald.providers.messages import EmailMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.sandbox.callbacks import CallbackSettings, Dispatcher
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.mailchimp import ERRORS, REJECT_REASONS, MailchimpSimulator
from herald.sandbox.server import Sandbox

KEY = "0123456789abcdef0123456789abcdef"
TO = "ada@example.com"


@dataclass
class Hooks:
    url: str = ""
    head_status: int = 200
    calls: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)


@dataclass
class Env:
    sim: MailchimpSimulator
    inbox: Inbox
    base: str
    hooks: Hooks
    adapter: MailchimpAdapter


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    box = Hooks()

    async def receive(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=box.head_status)
        form = {k: str(v) for k, v in (await request.post()).items()}
        box.calls.append((form, dict(request.headers)))
        return web.Response(status=200)

    app = web.Application()
    app.add_routes([web.route("*", "/mailchimp/events", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}/mailchimp/events"
    yield box
    await runner.cleanup()


@pytest.fixture
async def env(hooks: Hooks) -> AsyncIterator[Env]:
    inbox = Inbox()
    sim = MailchimpSimulator(inbox, callbacks=Dispatcher("mailchimp", CallbackSettings(delay_ms=0), seed=1))
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    adapter = MailchimpAdapter(sim.adapter_config(base))
    yield Env(sim, inbox, base, hooks, adapter)
    await adapter.close()
    await sandbox.stop()


def mail(to: str = TO, *, key: str = KEY) -> EmailMessage:
    return EmailMessage(
        key=key, to=to, subject="Welcome", html="<p>Hi Ada</p>", text="Hi Ada", to_name="Ada", category="welcome"
    )


async def call(env: Env, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(f"{env.base}/api/1.0/{path}", data=orjson.dumps(body)) as r:
        return r.status, await r.json(content_type=None)


async def add_webhook(env: Env, events: list[str] | None = None) -> dict[str, Any]:
    status, hook = await call(env, "webhooks/add", {"key": env.sim.api_key, "url": env.hooks.url, "events": events})
    assert status == 200, hook
    return dict(hook)


# ---------------------------------------------------------------- sending


async def test_sent_carries_id_and_the_key_reaches_the_inbox_in_metadata(env: Env) -> None:
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, Delivered) and outcome.code == "sent"
    assert outcome.provider_message_id and len(outcome.provider_message_id) == 32
    [entry] = env.inbox.entries(provider="mailchimp")
    assert (entry.destination, entry.key, entry.message_id) == (TO, KEY, outcome.provider_message_id)
    message = entry.body
    assert message["metadata"] == {"herald_key": KEY} and message["tags"] == ["welcome"]
    assert message["to"] == [{"email": TO, "name": "Ada", "type": "to"}]
    assert (message["track_opens"], message["track_clicks"]) == (False, False)
    assert (message["from_email"], message["from_name"]) == ("herald@example.com", "Herald")
    assert (message["html"], message["text"], message["subject"]) == ("<p>Hi Ada</p>", "Hi Ada", "Welcome")


def test_the_key_travels_in_the_body_never_a_header(env: Env) -> None:
    body = env.adapter.payload(mail())
    assert body["key"] == env.sim.api_key
    assert env.sim.api_key not in json.dumps(env.adapter._headers)


async def test_a_retry_after_an_unknown_outcome_shows_twice_in_the_inbox(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(drop_rate=1.0))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, UnknownOutcome)
    env.sim.faults.reset()
    assert isinstance(await env.adapter.send(mail()), Delivered)
    assert env.inbox.count_by_key() == {KEY: 2}


@pytest.mark.parametrize("reason", sorted(REJECT_REASONS))
async def test_each_reject_reason_agrees_with_the_adapter(env: Env, reason: str) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={reason: 1.0}))
    outcome = await env.adapter.send(mail())
    expected: type = (
        DeadAddress
        if reason in ("hard-bounce", "unsub", "spam")
        else RetryLater
        if reason == "soft-bounce"
        else PermanentFailure
    )
    assert isinstance(outcome, expected) and outcome.code == reason
    assert len(env.inbox) == 0


async def test_invalid_is_a_dead_address(env: Env) -> None:
    outcome = await env.adapter.send(mail(to="not-an-address@"))
    assert isinstance(outcome, DeadAddress) and outcome.code == "invalid"
    env.sim.faults.configure(FaultSettings(error_rates={"invalid": 1.0}))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, DeadAddress) and outcome.code == "invalid"
    assert len(env.inbox) == 0


async def test_a_revoked_address_is_rejected_as_hard_bounce(env: Env) -> None:
    env.sim.faults.revoked.add(TO)
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, DeadAddress) and outcome.code == "hard-bounce"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Invalid_Key", PermanentFailure),
        ("ValidationError", PermanentFailure),
        ("PaymentRequired", PermanentFailure),
        ("ServiceUnavailable", RetryLater),
        ("GeneralError", RetryLater),
    ],
)
async def test_each_error_agrees_with_the_adapter(env: Env, name: str, kind: type) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={name: 1.0}))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, kind) and outcome.code == name
    body = json.loads(outcome.detail or "")
    assert body == {"status": "error", "code": ERRORS[name][0], "name": name, "message": body["message"]}
    assert len(env.inbox) == 0


async def test_throttle_is_service_unavailable_with_retry_after(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=7))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, RetryLater) and (outcome.code, outcome.retry_after) == ("ServiceUnavailable", 7.0)
    assert isinstance(await env.adapter.send(mail()), Delivered)


async def test_a_wrong_key_is_invalid_key(env: Env) -> None:
    config = env.sim.adapter_config(env.base).model_copy(update={"api_key": SecretStr("md-wrong")})
    adapter = MailchimpAdapter(config)
    try:
        outcome = await adapter.send(mail())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "Invalid_Key"
    status, body = await call(env, "messages/send", {"message": adapter.payload(mail())["message"]})
    assert status == 500 and body["name"] == "Invalid_Key" and body["status"] == "error"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m: m.update(to=[]), "message.to"),
        (lambda m: m.pop("to"), "message.to"),
        (lambda m: m.pop("from_email"), "message.from_email"),
        (lambda m: m.update(from_email="nobody"), "message.from_email"),
        (lambda m: [m.pop("html"), m.pop("text")], "html or text"),
    ],
)
async def test_validation_errors(env: Env, change: Any, words: str) -> None:
    body = env.adapter.payload(mail())
    change(body["message"])
    status, answer = await call(env, "messages/send.json", body)
    assert status == 500 and answer["name"] == "ValidationError" and words in answer["message"]
    assert isinstance(outcome_of(_answer(status, answer), TO), PermanentFailure)
    assert len(env.inbox) == 0


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpAnswer:
    from multidict import CIMultiDict, CIMultiDictProxy

    return HttpAnswer(status, CIMultiDictProxy(CIMultiDict(headers or {})), orjson.dumps(body))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, [{"email": TO, "status": "queued", "_id": "a"}], Delivered("a", "queued")),
        (200, [{"email": TO, "status": "scheduled", "_id": "a"}], Delivered("a", "scheduled")),
        (200, [{"email": TO, "status": "rejected", "reject_reason": "unsub"}], DeadAddress("unsub")),
        (200, [{"email": TO, "status": "rejected", "reject_reason": "rule"}], PermanentFailure("rule")),
        (200, [{"email": TO, "status": "rejected"}], PermanentFailure("rejected")),
        (200, [{"email": TO, "status": "mystery"}], UnknownOutcome("mystery")),
        (200, [], UnknownOutcome("200")),
        (200, {"odd": True}, UnknownOutcome("200")),
        (500, {"status": "error", "name": "Unknown_Subaccount"}, PermanentFailure("Unknown_Subaccount")),
        (502, "bad gateway", RetryLater("502")),
        (429, None, RetryLater("429")),
        (404, None, PermanentFailure("404")),
    ],
)
def test_answer_table(status: int, body: Any, expected: Outcome) -> None:
    got = outcome_of(_answer(status, body), TO)
    assert type(got) is type(expected) and got.code == expected.code
    if isinstance(expected, Delivered):
        assert isinstance(got, Delivered) and got.provider_message_id == expected.provider_message_id


def test_the_recipient_entry_is_found_by_address_among_several() -> None:
    body = [
        {"email": "bob@example.com", "status": "sent", "_id": "b"},
        {"email": "ADA@example.com", "status": "rejected", "reject_reason": "spam"},
    ]
    assert isinstance(outcome_of(_answer(200, body), TO), DeadAddress)
    assert isinstance(recipient_outcome({"status": "invalid"}, None), DeadAddress)
    assert isinstance(error_outcome(500, None, None), RetryLater)


async def test_one_inbox_entry_per_recipient(env: Env) -> None:
    body = env.adapter.payload(mail())
    body["message"]["to"].append({"email": "bob@example.com", "type": "cc"})
    status, answer = await call(env, "messages/send", body)
    assert status == 200 and [a["status"] for a in answer] == ["sent", "sent"]
    assert {e.destination: e.key for e in env.inbox.entries()} == {TO: KEY, "bob@example.com": KEY}


async def test_async_and_send_at_answer_queued_and_scheduled(env: Env) -> None:
    body = {**env.adapter.payload(mail()), "async": True}
    assert (await call(env, "messages/send", body))[1][0]["status"] == "queued"
    body = {**env.adapter.payload(mail()), "send_at": "2030-01-01 00:00:00"}
    assert (await call(env, "messages/send", body))[1][0]["status"] == "scheduled"


# ---------------------------------------------------------------- search and info


async def test_search_honours_the_metadata_query_and_the_date_range(env: Env) -> None:
    sent = await env.adapter.send(mail())
    await env.adapter.send(mail(to="bob@example.com", key="f" * 32))
    assert isinstance(sent, Delivered)
    key = env.sim.api_key
    status, found = await call(env, "messages/search", {"key": key, "query": f"u_herald_key:{KEY}"})
    assert status == 200 and [m["_id"] for m in found] == [sent.provider_message_id]
    assert found[0]["metadata"] == {"herald_key": KEY} and found[0]["state"] == "sent"
    both = await call(env, "messages/search", {"key": key, "query": "*"})
    assert len(both[1]) == 2
    one = await call(env, "messages/search", {"key": key, "query": "email:bob@example.com AND u_herald_key:ff*"})
    assert [m["email"] for m in one[1]] == ["bob@example.com"]
    old = {"key": key, "query": f"u_herald_key:{KEY}", "date_from": "2001-01-01", "date_to": "2001-01-02"}
    assert (await call(env, "messages/search", old))[1] == []
    bad = await call(env, "messages/search", {"key": key, "query": "a OR b"})
    assert bad[0] == 500 and bad[1]["name"] == "ValidationError"
    info = await call(env, "messages/info", {"key": key, "id": sent.provider_message_id})
    assert info[1]["email"] == TO
    missing = await call(env, "messages/info", {"key": key, "id": "nope"})
    assert missing[0] == 500 and missing[1]["name"] == "Unknown_Message"


async def test_lookup_finds_a_sent_message_and_not_a_rejected_one(env: Env) -> None:
    assert await env.adapter.lookup(mail()) is None
    sent = await env.adapter.send(mail())
    found = await env.adapter.lookup(mail())
    assert isinstance(found, Delivered) and found.code == "lookup"
    assert isinstance(sent, Delivered) and found.provider_message_id == sent.provider_message_id
    env.sim.faults.configure(FaultSettings(error_rates={"soft-bounce": 1.0}))
    await env.adapter.send(mail(key="e" * 32))
    env.sim.faults.reset()
    assert await env.adapter.lookup(mail(key="e" * 32)) is None  # it reached nobody: resend is safe


async def test_a_failed_lookup_is_unknown(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={"ServiceUnavailable": 1.0}))
    assert isinstance(await env.adapter.lookup(mail()), UnknownOutcome)
    env.sim.faults.configure(FaultSettings(drop_rate=1.0))
    assert isinstance(await env.adapter.lookup(mail()), UnknownOutcome)
    since = datetime(2001, 1, 1, tzinfo=UTC)
    env.sim.faults.reset()
    assert await env.adapter.lookup(mail(), since) is None


# ---------------------------------------------------------------- webhooks


async def test_webhooks_add_checks_head_and_lists(env: Env) -> None:
    env.hooks.head_status = 404
    status, refused = await call(env, "webhooks/add", {"key": env.sim.api_key, "url": env.hooks.url})
    assert status == 500 and refused["name"] == "ValidationError" and "404" in refused["message"]
    env.hooks.head_status = 200
    hook = await add_webhook(env, ["send", "hard_bounce"])
    assert hook["url"] == env.hooks.url and len(hook["auth_key"]) == 22 and hook["events"] == ["send", "hard_bounce"]
    _, listed = await call(env, "webhooks/list", {"key": env.sim.api_key})
    assert [h["id"] for h in listed] == [hook["id"]]
    assert (await call(env, "webhooks/list", {"key": "wrong"}))[1]["name"] == "Invalid_Key"


@pytest.mark.parametrize(
    ("fault", "events", "in_inbox", "result"),
    [
        (None, ["send"], True, Delivered),
        ("hard_bounce", ["hard_bounce"], False, Delivered),
        ("soft_bounce", ["soft_bounce"], False, Delivered),
        ("deferral", ["deferral", "send"], True, Delivered),
        ("spam_complaint", ["send", "spam"], True, Delivered),
        ("unsub", ["reject"], False, DeadAddress),
    ],
)
async def test_events_are_posted_signed_to_each_webhook(
    env: Env, fault: str | None, events: list[str], in_inbox: bool, result: type
) -> None:
    hook = await add_webhook(env)
    if fault:
        env.sim.faults.configure(FaultSettings(error_rates={fault: 1.0}))
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, result)
    assert bool(env.inbox.entries(destination=TO)) is in_inbox
    await env.sim.callbacks.drain()
    posted = sorted(env.hooks.calls, key=lambda c: webhook_events(c[0]["mandrill_events"])[0].ts)
    names = [webhook_events(form["mandrill_events"])[0].event for form, _ in env.hooks.calls]
    assert sorted(names) == sorted(events)
    for form, headers in posted:
        assert set(form) == {"mandrill_events"}
        assert verify_webhook(hook["auth_key"], env.hooks.url, form, headers[SIGNATURE_HEADER])
        assert not verify_webhook("other-key", env.hooks.url, form, headers[SIGNATURE_HEADER])
        [event] = webhook_events(form["mandrill_events"])
        assert (event.key, event.email) == (KEY, TO)
        if isinstance(outcome, Delivered):
            assert event.message_id == outcome.provider_message_id


async def test_a_hard_bounce_puts_the_address_on_the_reject_list(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={"hard_bounce": 1.0}))
    assert isinstance(await env.adapter.send(mail()), Delivered)
    env.sim.faults.reset()
    outcome = await env.adapter.send(mail())
    assert isinstance(outcome, DeadAddress) and outcome.code == "hard-bounce"


async def test_the_webhook_key_from_webhooks_add_lands_in_the_adapter_config(env: Env) -> None:
    hook = await add_webhook(env)
    config = env.sim.adapter_config(env.base)
    assert config.webhook_key is not None and config.webhook_key.get_secret_value() == hook["auth_key"]


# Computed with Mailchimp's documented algorithm (the PHP reference in its webhook docs):
# base64(hmac_sha1(key, url . k1 . v1 . k2 . v2 ...)), keys sorted.
def test_signature_vector() -> None:
    key, url = "test-webhook-key", "https://example.com/hook"
    params = {"mandrill_events": "[]", "a": "1"}
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new(key.encode(), (url + "a1" + "mandrill_events[]").encode(), hashlib.sha1).digest()
    ).decode()
    assert webhook_signature(key, url, params) == expected
    assert verify_webhook(key, url, params, expected)
    assert not verify_webhook(key, url + "?x=1", params, expected)
    assert not verify_webhook(key, url, params, None)
    assert not verify_webhook(key, url, params, "é")


def test_webhook_events_parses_what_herald_needs() -> None:
    raw = json.dumps(
        [
            {
                "event": "click",
                "ts": 1700000000,
                "_id": "ev1",
                "url": "https://example.com/x",
                "msg": {"_id": "m1", "email": TO, "state": "sent", "metadata": {"herald_key": KEY}},
            },
            {
                "event": "hard_bounce",
                "ts": 1700000001.5,
                "_id": "ev2",
                "msg": {"_id": "m2", "email": TO, "bounce_description": "bad_mailbox", "diag": "smtp;550"},
            },
            {"type": "blacklist", "action": "add", "reject": {"email": TO}},
        ]
    )
    click, bounce = webhook_events(raw)
    assert click == MandrillEvent(
        "click", 1700000000, "ev1", "m1", TO, KEY, "sent", "https://example.com/x", None, None
    )
    assert click.outcome is None
    assert (bounce.ts, bounce.key, bounce.bounce_description, bounce.diag) == (
        1700000001,
        None,
        "bad_mailbox",
        "smtp;550",
    )
    assert isinstance(bounce.outcome, DeadAddress)
    assert webhook_events("[]") == []


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "{}",
        "[1]",
        '[{"ts": 1}]',
        '[{"event": "send"}]',
        '[{"event": "send", "ts": "yesterday"}]',
        '[{"event": "send", "ts": true}]',
        '[{"event": "send", "ts": 1, "msg": []}]',
        '[{"event": "send", "ts": 1, "msg": {"metadata": [1]}}]',
        '[{"event": "send", "ts": 1, "msg": {"email": {"a": 1}}}]',
        "\x00",
    ],
)
def test_webhook_events_raises_only_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        webhook_events(raw)


def test_event_outcomes() -> None:
    def ev(name: str) -> MandrillEvent:
        return MandrillEvent(name, 1, None, "m", TO, KEY, None, None, None, None)

    assert isinstance(ev("send").outcome, Delivered)
    assert isinstance(ev("spam").outcome, DeadAddress)
    assert isinstance(ev("unsub").outcome, DeadAddress)
    assert isinstance(ev("soft_bounce").outcome, RetryLater)
    assert isinstance(ev("reject").outcome, PermanentFailure)
    assert ev("deferral").outcome is None and ev("open").outcome is None


# ---------------------------------------------------------------- the official client


async def test_official_client_sends_pings_and_searches(env: Env) -> None:
    client = mailchimp_transactional.Client(env.sim.api_key)
    client.api_client.host = f"{env.base}/api/1.3"

    def run() -> tuple[Any, Any, Any, Any]:
        pong = client.users.ping()
        sent = client.messages.send({"message": env.adapter.payload(mail())["message"]})
        found = client.messages.search({"query": f"u_herald_key:{KEY}"})
        hook_list = client.webhooks.list()
        return pong, sent, found, hook_list

    pong, sent, found, hook_list = await asyncio.to_thread(run)
    assert pong == "PONG!"
    assert [s["status"] for s in sent] == ["sent"] and [e.key for e in env.inbox.entries()] == [KEY]
    assert [m["_id"] for m in found] == [sent[0]["_id"]]
    # The client hands back the raw response when the answer is empty (its `if data:`).
    assert hook_list.status_code == 200 and hook_list.json() == []


async def test_official_client_gets_the_documented_errors(env: Env) -> None:
    bad = mailchimp_transactional.Client("md-wrong")
    bad.api_client.host = f"{env.base}/api/1.0"
    good = mailchimp_transactional.Client(env.sim.api_key)
    good.api_client.host = f"{env.base}/api/1.0"

    def errors() -> list[ApiClientError]:
        out = []
        attempts: list[Callable[[], Any]] = [
            lambda: bad.users.ping(),
            lambda: bad.messages.send({"message": {"to": [{"email": TO}], "from_email": "a@example.com"}}),
            lambda: good.messages.send({"message": {"from_email": "a@example.com", "text": "x"}}),
        ]
        for attempt in attempts:
            try:
                attempt()
            except ApiClientError as exc:
                out.append(exc)
        return out

    invalid_ping, invalid_send, validation = await asyncio.to_thread(errors)
    for exc, name in ((invalid_ping, "Invalid_Key"), (invalid_send, "Invalid_Key"), (validation, "ValidationError")):
        assert exc.status_code == 500
        assert exc.text["status"] == "error" and exc.text["name"] == name
    assert len(env.inbox) == 0


def test_form_signature_matches_what_the_receiver_parses() -> None:
    """The signed params are exactly the decoded form fields a receiver sees."""
    body = "mandrill_events=%5B%7B%22event%22%3A%22send%22%7D%5D"
    params = dict(parse_qsl(body))
    assert webhook_signature("k", "u", params) == webhook_signature("k", "u", {"mandrill_events": '[{"event":"send"}]'})
