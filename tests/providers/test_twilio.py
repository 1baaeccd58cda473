"""Twilio adapter against the Twilio simulator, cross-checked with Twilio's own SDK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from herald.providers.messages import SmsMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.providers.twilio import (
    TwilioAdapter,
    TwilioConfig,
    callback_key,
    status_outcome,
    verify_signature,
    with_key,
)
from herald.sandbox.callbacks import CallbackSettings
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.twilio import TwilioSimulator

KEY = "0123456789abcdef0123456789abcdef"
TO = "+14155550100"


@dataclass
class Hooks:
    """A local receiver for the simulator's status callbacks."""

    url: str
    calls: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)


@dataclass
class Env:
    sim: TwilioSimulator
    inbox: Inbox
    base: str
    hooks: Hooks
    adapter: TwilioAdapter


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    box = Hooks(url="")

    async def receive(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        box.calls.append((str(request.url), form, dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.add_routes([web.post("/twilio/status", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box.url = f"http://127.0.0.1:{port}/twilio/status?tenant=acme"
    yield box
    await runner.cleanup()


@pytest.fixture
async def env(hooks: Hooks) -> AsyncIterator[Env]:
    inbox = Inbox()
    sim = TwilioSimulator(inbox)
    sim.callbacks.configure(CallbackSettings(delay_ms=0, step_ms=0, retry_backoff_ms=1))
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    adapter = TwilioAdapter(sim.adapter_config(base, status_callback_url=hooks.url))
    yield Env(sim, inbox, base, hooks, adapter)
    await adapter.close()
    await sandbox.stop()


def sms(to: str = TO, text: str = "Your code is 123456") -> SmsMessage:
    return SmsMessage(key=KEY, to=to, text=text)


def fail_with(sim: TwilioSimulator, code: str) -> None:
    sim.faults.configure(FaultSettings(error_rates={code: 1.0}))


async def test_success_carries_sid_and_key_reaches_inbox(env: Env) -> None:
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, Delivered)
    assert outcome.provider_message_id and outcome.provider_message_id.startswith("SM")
    assert len(outcome.provider_message_id) == 34
    assert outcome.code == "queued"
    [entry] = env.inbox.entries(provider="twilio")
    assert (entry.destination, entry.key, entry.message_id) == (TO, KEY, outcome.provider_message_id)
    assert entry.body["From"] == "+15005550006"


async def test_without_callback_url_the_key_has_no_slot(env: Env) -> None:
    config = env.sim.adapter_config(env.base)
    adapter = TwilioAdapter(config)
    try:
        assert isinstance(await adapter.send(sms()), Delivered)
    finally:
        await adapter.close()
    [entry] = env.inbox.entries(provider="twilio")
    assert entry.key is None and "StatusCallback" not in entry.body


@pytest.mark.parametrize(
    ("fault", "kind", "code"),
    [
        ("20429", RetryLater, "20429"),
        ("21211", DeadAddress, "21211"),
        ("21610", DeadAddress, "21610"),
        ("21612", PermanentFailure, "21612"),
        ("21614", PermanentFailure, "21614"),
        ("500", RetryLater, "20500"),
        ("503", RetryLater, "20503"),
    ],
)
async def test_every_synchronous_error_row(env: Env, fault: str, kind: type, code: str) -> None:
    fail_with(env.sim, fault)
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, kind)
    assert outcome.code == code
    assert len(env.inbox) == 0


def statuses(env: Env) -> list[tuple[str, str | None]]:
    """(MessageStatus, ErrorCode) of the callbacks received, in the order they were sent."""
    order = {r.callback.event: r.seq for r in env.sim.callbacks.records}
    calls = sorted(env.hooks.calls, key=lambda c: order[c[1]["MessageStatus"]])
    return [(form["MessageStatus"], form.get("ErrorCode")) for _, form, _ in calls]


@pytest.mark.parametrize(
    ("fault", "final", "kind"),
    [
        ("30003", "undelivered", RetryLater),
        ("30005", "undelivered", DeadAddress),
        ("30006", "undelivered", PermanentFailure),
        ("30007", "undelivered", PermanentFailure),
        ("30008", "failed", RetryLater),
    ],
)
@pytest.mark.parametrize("by", ["fault", "destination"])
async def test_async_errors_arrive_in_signed_status_callbacks(
    env: Env, fault: str, final: str, kind: type, by: str
) -> None:
    to = TO
    if by == "fault":
        fail_with(env.sim, fault)
    else:
        to = "+1415555" + fault
    accepted = await env.adapter.send(sms(to=to))
    assert isinstance(accepted, Delivered)  # Twilio accepts first: the failure comes later
    await env.sim.callbacks.drain()
    expected = [("queued", None)] + ([] if final == "failed" else [("sent", None)]) + [(final, fault)]
    assert statuses(env) == expected
    validator = RequestValidator(env.sim.auth_token)
    for url, form, headers in env.hooks.calls:
        assert url == with_key(env.hooks.url, KEY) and callback_key(url) == KEY
        assert form["MessageSid"] == form["SmsSid"] == accepted.provider_message_id
        assert (form["To"], form["From"], form["AccountSid"], form["ApiVersion"]) == (
            to,
            "+15005550006",
            env.sim.account_sid,
            "2010-04-01",
        )
        assert form["SmsStatus"] == form["MessageStatus"]
        assert validator.validate(url, form, headers["X-Twilio-Signature"])
        assert verify_signature(env.sim.auth_token, url, form, headers["X-Twilio-Signature"])
    last = next(form for _, form, _ in env.hooks.calls if form["MessageStatus"] == final)
    outcome = status_outcome(last)
    assert outcome is not None and isinstance(outcome, kind) and outcome.code == fault
    assert len(env.inbox) == 0  # the handset never got it
    fetched = await fetch(env, accepted.provider_message_id or "")
    assert (fetched["status"], fetched["error_code"]) == (final, int(fault))


async def test_delivered_sequence_and_fetch(env: Env) -> None:
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, Delivered)
    await env.sim.callbacks.drain()
    assert statuses(env) == [("queued", None), ("sent", None), ("delivered", None)]
    [(url, form, headers)] = [c for c in env.hooks.calls if c[1]["MessageStatus"] == "delivered"]
    assert verify_signature(env.sim.auth_token, url, form, headers["X-Twilio-Signature"])
    assert status_outcome(form) == Delivered(outcome.provider_message_id, "delivered")
    fetched = await fetch(env, outcome.provider_message_id or "")
    sid = outcome.provider_message_id
    assert (fetched["sid"], fetched["status"], fetched["error_code"]) == (sid, "delivered", None)
    recorded = env.sim.callbacks.delivered()
    assert sorted(r.callback.event or "" for r in recorded) == ["delivered", "queued", "sent"]
    assert {r.callback.key for r in recorded} == {KEY}


async def fetch(env: Env, sid: str, account: str | None = None) -> Any:
    url = f"{env.base}/2010-04-01/Accounts/{account or env.sim.account_sid}/Messages/{sid}.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(env.sim.account_sid, env.sim.auth_token)}
    async with aiohttp.ClientSession() as s, s.get(url, headers=auth) as resp:
        body = await resp.json()
        return body if resp.status == 200 else {"http": resp.status, **body}


async def test_fetch_unknown_or_other_account(env: Env) -> None:
    missing = await fetch(env, "SM" + "0" * 32)
    assert (missing["http"], missing["code"], missing["status"]) == (404, 20404, 404)
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, Delivered)
    other = await fetch(env, outcome.provider_message_id or "", account="AC" + "1" * 32)
    assert (other["http"], other["code"]) == (401, 20003)


async def test_official_sdk_fetches_the_message(env: Env) -> None:
    outcome = await env.adapter.send(sms(to="+1415555" + "30006"))
    assert isinstance(outcome, Delivered)
    client = Client(env.sim.account_sid, env.sim.auth_token)
    client.api.base_url = env.base
    message = await asyncio.to_thread(lambda: client.messages(outcome.provider_message_id).fetch())
    assert (message.sid, message.status, message.error_code) == (outcome.provider_message_id, "undelivered", 30006)


async def test_duplicated_callbacks_carry_the_same_signed_form(env: Env) -> None:
    env.sim.callbacks.configure(CallbackSettings(delay_ms=0, step_ms=0, duplicate_rate=1.0, seed=1))
    await env.adapter.send(sms())
    await env.sim.callbacks.drain()
    assert len(env.hooks.calls) == 6
    by_status: dict[str, list[tuple[dict[str, str], str]]] = {}
    for _, form, headers in env.hooks.calls:
        by_status.setdefault(form["MessageStatus"], []).append((form, headers["X-Twilio-Signature"]))
    assert all(len(copies) == 2 and copies[0] == copies[1] for copies in by_status.values())


async def test_twilio_request_validator_refuses_a_tampered_callback(env: Env) -> None:
    fail_with(env.sim, "30003")
    await env.adapter.send(sms())
    await env.sim.callbacks.drain()
    (url, form, headers) = next(c for c in env.hooks.calls if c[1]["MessageStatus"] == "undelivered")
    validator = RequestValidator(env.sim.auth_token)
    assert validator.compute_signature(url, form) == headers["X-Twilio-Signature"]
    assert not validator.validate(url, {**form, "ErrorCode": "30006"}, headers["X-Twilio-Signature"])
    assert not validator.validate(url.replace("tenant=acme", "tenant=evil"), form, headers["X-Twilio-Signature"])


def test_verify_signature_agrees_with_twilio_validator() -> None:
    url = "https://example.com/sms/status?herald_key=" + KEY
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": TO, "AccountSid": "AC1"}
    sig = RequestValidator("secret-token").compute_signature(url, params)
    assert verify_signature("secret-token", url, params, sig)
    assert not verify_signature("other-token", url, params, sig)
    assert not verify_signature("secret-token", url, {**params, "To": "+1"}, sig)


async def test_wrong_auth_token_is_20003(env: Env) -> None:
    config = env.sim.adapter_config(env.base)
    adapter = TwilioAdapter(config.model_copy(update={"auth_token": SecretStr("nope")}))
    try:
        outcome = await adapter.send(sms())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "20003"
    assert len(env.inbox) == 0


async def test_account_in_path_must_be_the_authenticated_one(env: Env) -> None:
    url = f"{env.base}/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(env.sim.account_sid, env.sim.auth_token)}
    async with aiohttp.ClientSession() as s, s.post(url, data={"To": TO}, headers=auth) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert body == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


async def test_throttle_honours_retry_after(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=7))
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("20429", 7.0)
    assert isinstance(await env.adapter.send(sms()), Delivered)


async def test_accept_then_drop_is_unknown(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(drop_rate=1.0))
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, UnknownOutcome)
    assert [e.key for e in env.inbox.entries(destination=TO)] == [KEY]  # it did arrive


async def test_revoked_number_is_dead(env: Env) -> None:
    env.sim.faults.revoked.add(TO)
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, DeadAddress) and outcome.code == "21610"


async def test_real_validation_answers_in_twilio_codes(env: Env) -> None:
    bad_number = await env.adapter.send(sms(to="5551234567"))
    assert isinstance(bad_number, DeadAddress) and bad_number.code == "21211"
    too_long = await env.adapter.send(sms(text="x" * 1601))
    assert isinstance(too_long, PermanentFailure) and too_long.code == "21617"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": "+15005550006", "Body": "hi"}, 21604),
        ({"To": TO, "Body": "hi"}, 21603),
        ({"To": TO, "From": "+15005550006"}, 21602),
        ({"To": TO, "From": "+15550001111", "Body": "hi"}, 21606),
        ({"To": TO, "MessagingServiceSid": "MG" + "0" * 32, "Body": "hi"}, 21701),
    ],
)
async def test_form_validation(env: Env, form: dict[str, str], code: int) -> None:
    body, status = await post_raw(env, form)
    assert status == 400 and body["code"] == code and body["status"] == 400


async def post_raw(env: Env, form: dict[str, str]) -> tuple[Any, int]:
    url = f"{env.base}/2010-04-01/Accounts/{env.sim.account_sid}/Messages.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(env.sim.account_sid, env.sim.auth_token)}
    async with aiohttp.ClientSession() as s, s.post(url, data=form, headers=auth) as resp:
        return await resp.json(), resp.status


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, "1"),
        ("a" * 161, "2"),
        ("{" * 80, "1"),
        ("{" * 81, "2"),
        ("é" * 160, "1"),
        ("ś" * 70, "1"),
        ("ś" * 71, "2"),
        ("😀" * 35, "1"),
        ("😀" * 36, "2"),
    ],
)
async def test_segments_follow_gsm7_and_ucs2(env: Env, body: str, segments: str) -> None:
    resource, status = await post_raw(env, {"To": TO, "From": "+15005550006", "Body": body})
    assert status == 201 and resource["num_segments"] == segments


async def test_messaging_service_without_from_is_accepted(env: Env) -> None:
    form = {"To": TO, "MessagingServiceSid": env.sim.messaging_service_sid, "Body": "hi"}
    resource, status = await post_raw(env, form)
    assert status == 201 and resource["status"] == "accepted" and resource["from"] is None


async def test_official_sdk_sends_through_the_simulator(env: Env) -> None:
    client = Client(env.sim.account_sid, env.sim.auth_token)
    client.api.base_url = env.base

    def create(to: str) -> Any:
        return client.messages.create(to=to, from_="+15005550006", body="from the SDK")

    message = await asyncio.to_thread(create, TO)
    [entry] = env.inbox.entries(provider="twilio")
    assert message.sid == entry.message_id and message.status == "queued"
    assert message.num_segments == "1" and message.error_code is None
    with pytest.raises(TwilioRestException) as caught:
        await asyncio.to_thread(create, "5551234567")
    assert caught.value.code == 21211 and caught.value.status == 400


def test_status_outcome_table() -> None:
    assert status_outcome({"MessageStatus": "sent", "MessageSid": "SM1"}) is None
    delivered = status_outcome({"MessageStatus": "delivered", "MessageSid": "SM1"})
    assert isinstance(delivered, Delivered) and delivered.provider_message_id == "SM1"
    stop = status_outcome({"MessageStatus": "failed", "ErrorCode": "21610"})
    assert isinstance(stop, DeadAddress) and stop.code == "21610"
    unknown = status_outcome({"MessageStatus": "failed", "ErrorCode": "30007"})
    assert isinstance(unknown, PermanentFailure) and unknown.code == "30007"


def test_key_is_added_to_an_existing_callback_query() -> None:
    url = with_key("https://h.example/cb?tenant=acme&herald_key=old", KEY)
    assert url == f"https://h.example/cb?tenant=acme&herald_key={KEY}"
    assert callback_key(url) == KEY


def test_config_needs_a_sender() -> None:
    with pytest.raises(ValueError, match="from_number or messaging_service_sid"):
        TwilioConfig(account_sid="AC1", auth_token=SecretStr("t"))
    config = TwilioConfig(account_sid="AC1", auth_token=SecretStr("t0ken"), from_number="+1")
    assert "t0ken" not in repr(config)


# ---------------------------------------------------------------- the list resource and the lookup


async def test_the_list_resource_filters_like_twilio(env: Env) -> None:
    sent = await env.adapter.send(sms())
    await env.adapter.send(sms(to="+14155550199"))
    assert isinstance(sent, Delivered)
    url = f"{env.base}/2010-04-01/Accounts/{env.sim.account_sid}/Messages.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(env.sim.account_sid, env.sim.auth_token)}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    async with aiohttp.ClientSession(headers=auth) as s:
        async with s.get(url, params={"To": TO, "DateSent>": today}) as r:
            page = await r.json()
        async with s.get(url, params={"DateSent<": "2001-01-01"}) as r:
            none = await r.json()
        async with s.get(url, params={"PageSize": "1"}) as r:
            first = await r.json()
    assert [m["sid"] for m in page["messages"]] == [sent.provider_message_id]
    assert page["messages"][0]["status"] == "delivered" and page["messages"][0]["date_sent"]
    assert none["messages"] == []
    assert len(first["messages"]) == 1 and first["next_page_uri"] and first["previous_page_uri"] is None
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        assert r.status == 401


async def test_the_official_sdk_lists_the_simulators_messages(env: Env) -> None:
    sent = await env.adapter.send(sms())
    client = Client(env.sim.account_sid, env.sim.auth_token)
    client.api.base_url = env.base  # the SDK's own host override, as in the send cross-check

    def listed() -> list[Any]:
        return list(client.messages.list(to=TO, limit=20))

    found = await asyncio.to_thread(listed)
    assert isinstance(sent, Delivered) and [m.sid for m in found] == [sent.provider_message_id]


async def test_lookup_by_number_and_body(env: Env) -> None:
    assert await env.adapter.lookup(sms()) is None
    sent = await env.adapter.send(sms())
    found = await env.adapter.lookup(sms())
    assert isinstance(found, Delivered) and isinstance(sent, Delivered)
    assert (found.provider_message_id, found.code) == (sent.provider_message_id, "lookup")
    other_text = SmsMessage(key=KEY, to=TO, text="another text")
    assert await env.adapter.lookup(other_text) is None
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await env.adapter.lookup(sms(), later) is None  # created before the delivery: not it


async def test_an_asynchronously_failed_message_is_not_found(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={"30003": 1.0}))
    assert isinstance(await env.adapter.send(sms()), Delivered)
    env.sim.faults.reset()
    assert await env.adapter.lookup(sms()) is None


async def test_a_failed_lookup_is_unknown(env: Env) -> None:
    config = env.sim.adapter_config(env.base).model_copy(update={"auth_token": SecretStr("wrong")})
    adapter = TwilioAdapter(config)
    try:
        assert isinstance(await adapter.lookup(sms()), UnknownOutcome)
    finally:
        await adapter.close()
