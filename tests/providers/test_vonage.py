"""Vonage adapter against the Vonage simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from herald.providers.messages import SmsMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.providers.vonage import VonageAdapter, is_gsm7, receipt_outcome, segment_count
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.vonage import VonageSimulator

KEY = "0123456789abcdef0123456789abcdef"
TO = "+447700900001"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    sim: VonageSimulator
    inbox: Inbox
    base: str
    clock: Clock
    adapter: VonageAdapter


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    inbox, clock = Inbox(), Clock()
    sim = VonageSimulator(inbox, clock=clock)
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    adapter = VonageAdapter(sim.adapter_config(base))
    yield Env(sim, inbox, base, clock, adapter)
    await adapter.close()
    await sandbox.stop()


def sms(to: str = TO, text: str = "Your code is 123456") -> SmsMessage:
    return SmsMessage(key=KEY, to=to, text=text)


async def post_raw(env: Env, data: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    async with aiohttp.ClientSession() as s, s.post(f"{env.base}/sms/json", data=data, headers=headers) as r:
        assert r.status == 200  # Vonage answers 200 even when it refuses
        return await r.json()


async def test_success_carries_message_id_and_client_ref(env: Env) -> None:
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, Delivered) and outcome.code == "0"
    [entry] = env.inbox.entries(provider="vonage")
    assert (entry.destination, entry.key, entry.message_id) == (TO, KEY, outcome.provider_message_id)
    assert len(entry.message_id) == 16
    assert entry.body["to"] == "447700900001" and entry.body["type"] == "text"
    assert "api_secret" not in entry.body


async def test_non_gsm_text_goes_as_unicode(env: Env) -> None:
    assert isinstance(await env.adapter.send(sms(text="Код: 123456")), Delivered)
    [entry] = env.inbox.entries(provider="vonage")
    assert entry.body["type"] == "unicode"


async def test_long_text_is_answered_per_part(env: Env) -> None:
    data = env.adapter.form(sms(text="a" * 200))
    body = await post_raw(env, data)
    assert body["message-count"] == "2"
    assert [m["status"] for m in body["messages"]] == ["0", "0"]
    assert all(m["client-ref"] == KEY for m in body["messages"])
    assert len(env.inbox) == 1


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("1", RetryLater),
        ("2", PermanentFailure),
        ("3", PermanentFailure),
        ("4", PermanentFailure),
        ("5", RetryLater),
        ("6", PermanentFailure),
        ("7", DeadAddress),
        ("8", PermanentFailure),
        ("9", PermanentFailure),
        ("10", RetryLater),
        ("500", RetryLater),
    ],
)
async def test_every_status_row(env: Env, status: str, kind: type) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={status: 1.0}))
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, kind)
    assert outcome.code == status
    assert len(env.inbox) == 0


async def test_wrong_secret_is_status_4_bad_credentials(env: Env) -> None:
    config = env.sim.adapter_config(env.base).model_copy(update={"api_secret": SecretStr("nope")})
    adapter = VonageAdapter(config)
    try:
        outcome = await adapter.send(sms())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "4"
    assert outcome.detail and "Bad Credentials" in outcome.detail
    assert len(env.inbox) == 0


async def test_basic_auth_is_accepted_instead_of_form_credentials(env: Env) -> None:
    data = {"from": "Herald", "to": "447700900001", "text": "hi", "client-ref": KEY}
    auth = {"Authorization": aiohttp.encode_basic_auth(env.sim.api_key, env.sim.api_secret)}
    body = await post_raw(env, data, auth)
    assert body["messages"][0]["status"] == "0"
    wrong = {"Authorization": aiohttp.encode_basic_auth(env.sim.api_key, "nope")}
    body = await post_raw(env, data, wrong)
    assert body["messages"][0] == {"status": "4", "error-text": "Bad Credentials"}


@pytest.mark.parametrize(
    ("drop", "status"),
    [("api_key", "2"), ("from", "2"), ("to", "2"), ("text", "2")],
)
async def test_missing_parameters_are_status_2(env: Env, drop: str, status: str) -> None:
    data = env.adapter.form(sms())
    del data[drop]
    body = await post_raw(env, data)
    assert body["messages"][0]["status"] == status


async def test_invalid_number_is_status_3(env: Env) -> None:
    outcome = await env.adapter.send(sms(to="not-a-number"))
    assert isinstance(outcome, PermanentFailure) and outcome.code == "3"


async def test_revoked_number_is_barred_and_dead(env: Env) -> None:
    env.sim.faults.revoked.add(TO)
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, DeadAddress) and outcome.code == "7"


async def test_thirty_requests_per_second_per_key(env: Env) -> None:
    for _ in range(30):
        assert isinstance(await env.adapter.send(sms()), Delivered)
    throttled = await env.adapter.send(sms())
    assert isinstance(throttled, RetryLater)
    assert (throttled.code, throttled.retry_after) == ("1", 1.0)
    env.clock.now += 1.0
    assert isinstance(await env.adapter.send(sms()), Delivered)
    assert len(env.inbox) == 31


async def test_throttle_draw_is_status_1(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=3))
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, RetryLater) and outcome.code == "1"
    assert isinstance(await env.adapter.send(sms()), Delivered)


async def test_accept_then_drop_is_unknown(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(drop_rate=1.0))
    outcome = await env.adapter.send(sms())
    assert isinstance(outcome, UnknownOutcome)
    assert [e.key for e in env.inbox.entries(destination=TO)] == [KEY]


@pytest.mark.parametrize(
    ("dlr", "kind", "code"),
    [
        ({"status": "delivered", "err-code": "0", "messageId": "0A1"}, Delivered, "delivered"),
        ({"status": "failed", "err-code": "2"}, RetryLater, "2"),
        ({"status": "failed", "err-code": "3"}, DeadAddress, "3"),
        ({"status": "rejected", "err-code": "4"}, DeadAddress, "4"),
        ({"status": "rejected", "err-code": "6"}, PermanentFailure, "6"),
        ({"status": "failed", "err-code": "8"}, RetryLater, "8"),
        ({"status": "expired", "err-code": "0"}, RetryLater, "expired"),
    ],
)
def test_receipt_outcome(dlr: dict[str, str], kind: type, code: str) -> None:
    outcome = receipt_outcome({**dlr, "client-ref": KEY})
    assert outcome is not None and isinstance(outcome, kind) and outcome.code == code


def test_intermediate_receipts_are_not_outcomes() -> None:
    assert receipt_outcome({"status": "accepted", "err-code": "0"}) is None
    assert receipt_outcome({"status": "buffered", "err-code": "0"}) is None


def test_gsm7_segments() -> None:
    assert is_gsm7("Hello {world} €5") and not is_gsm7("Привет")
    assert segment_count("a" * 160) == 1 and segment_count("a" * 161) == 2
    assert segment_count("€" * 80) == 1 and segment_count("€" * 81) == 2
    assert segment_count("я" * 70) == 1 and segment_count("я" * 71) == 2
    assert segment_count("a" * 306) == 2 and segment_count("a" * 307) == 3
