"""The Vonage simulator's delivery receipts: where they go, their sequence and err-codes, and
their signature, checked by Herald's verifier and by Vonage's own SDK."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import SecretStr
from vonage_http_client.auth import Auth  # type: ignore[import-untyped]

from herald.providers.messages import SmsMessage
from herald.providers.outcome import DeadAddress, Delivered, PermanentFailure, RetryLater
from herald.providers.vonage import (
    SignatureMethod,
    VonageAdapter,
    receipt_outcome,
    receipt_signature,
    verify_receipt_signature,
)
from herald.sandbox.callbacks import CallbackSettings
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.vonage import VonageSimulator
from tests.providers.receiver import Receiver, receiver

KEY = "0123456789abcdef0123456789abcdef"
TO = "+447700900001"
NOW = 1_700_000_000.0
SECRET = "s1gnature-secret&="


@dataclass
class Env:
    sim: VonageSimulator
    inbox: Inbox
    base: str
    hook: Receiver

    def adapter(self, **update: Any) -> VonageAdapter:
        return VonageAdapter(self.sim.adapter_config(self.base).model_copy(update=update))

    async def send(self, to: str = TO, text: str = "Your code is 123456", **update: Any) -> Delivered:
        adapter = self.adapter(**update)
        try:
            outcome = await adapter.send(SmsMessage(key=KEY, to=to, text=text))
        finally:
            await adapter.close()
        assert isinstance(outcome, Delivered)
        await self.sim.callbacks.drain()
        return outcome

    def receipts(self) -> list[dict[str, str]]:
        """Each receipt's fields, however the account's method sent them, in sending order."""
        out = []
        for call in self.hook.calls:
            fields = orjson.loads(call.body) if call.headers.get("Content-Type") == "application/json" else call.form
            out.append(fields)
        steps = {"accepted": 0, "buffered": 0}
        return sorted(out, key=lambda f: (f["messageId"], steps.get(f["status"], 1)))


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with receiver() as hook:
        inbox = Inbox()
        sim = VonageSimulator(inbox, clock=lambda: NOW)
        sim.callbacks.configure(CallbackSettings(delay_ms=0, step_ms=0, retry_backoff_ms=1))
        sandbox = Sandbox([sim], inbox)
        port = await sandbox.start("127.0.0.1", 0)
        try:
            yield Env(sim, inbox, f"http://127.0.0.1:{port}", hook)
        finally:
            await sandbox.stop()


async def configure(env: Env, **account: Any) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.put(f"{env.base}/_sandbox/vonage/accounts/{env.sim.api_key}", json=account) as r,
    ):
        assert r.status == 200, await r.text()


async def test_receipts_to_the_request_callback_accepted_then_delivered(env: Env) -> None:
    sent = await env.send(status_callback_url=env.hook.url("/dlr", "t=1"))
    accepted, delivered = env.receipts()
    assert [accepted["status"], delivered["status"]] == ["accepted", "delivered"]
    assert delivered == {
        "msisdn": "447700900001",
        "to": "Herald",
        "network-code": "23410",
        "messageId": sent.provider_message_id,
        "price": "0.03330000",
        "status": "delivered",
        "scts": "2311142213",
        "err-code": "0",
        "api-key": env.sim.api_key,
        "message-timestamp": "2023-11-14 22:13:20",
        "client-ref": KEY,
    }
    assert all(c.url == env.hook.url("/dlr", "t=1") and c.method == "POST" for c in env.hook.calls)
    outcome = receipt_outcome(delivered)
    assert isinstance(outcome, Delivered) and outcome.provider_message_id == sent.provider_message_id
    assert receipt_outcome(accepted) is None
    assert [e.key for e in env.inbox.entries(provider="vonage")] == [KEY]


async def test_account_dr_url_set_with_vonages_settings_api(env: Env) -> None:
    form = {"api_key": env.sim.api_key, "api_secret": env.sim.api_secret, "drCallBackUrl": env.hook.url("/acct")}
    async with aiohttp.ClientSession() as s, s.post(f"{env.base}/account/settings", data=form) as r:
        assert r.status == 200
        assert (await r.json())["dr-callback-url"] == env.hook.url("/acct")
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{env.base}/account/settings", data={**form, "api_secret": "x"}) as r,
    ):
        assert r.status == 401
    await env.send()
    assert {c.url for c in env.hook.calls} == {env.hook.url("/acct")}
    env.hook.calls.clear()
    await env.send(status_callback_url=env.hook.url("/request"))  # the request's own wins
    assert {c.url for c in env.hook.calls} == {env.hook.url("/request")}


async def test_no_url_no_receipt(env: Env) -> None:
    await env.send()
    assert env.hook.calls == [] and env.sim.callbacks.records == []


@pytest.mark.parametrize(
    ("tail", "first", "final", "err", "kind"),
    [
        ("99002", "buffered", "expired", "2", RetryLater),
        ("99003", "accepted", "failed", "3", DeadAddress),
        ("99004", "accepted", "failed", "4", DeadAddress),
        ("99006", "accepted", "rejected", "6", PermanentFailure),
        ("99007", "accepted", "failed", "7", RetryLater),
        ("99008", "accepted", "failed", "8", RetryLater),
        ("99009", "accepted", "rejected", "9", DeadAddress),
        ("99011", "accepted", "rejected", "11", PermanentFailure),
        ("99099", "accepted", "failed", "99", PermanentFailure),
    ],
)
async def test_failures_by_destination(env: Env, tail: str, first: str, final: str, err: str, kind: type) -> None:
    await env.send(to="+447700" + tail, status_callback_url=env.hook.url())
    start, verdict = env.receipts()
    assert (start["status"], start["err-code"]) == (first, "0")
    assert (verdict["status"], verdict["err-code"]) == (final, err)
    outcome = receipt_outcome(verdict)
    assert isinstance(outcome, kind)
    assert len(env.inbox) == 0  # never reached the handset


async def test_injected_receipt_fault(env: Env) -> None:
    env.sim.faults.configure(FaultSettings(error_rates={"dlr-3": 1.0}))
    await env.send(status_callback_url=env.hook.url())
    assert [(r["status"], r["err-code"]) for r in env.receipts()] == [("accepted", "0"), ("failed", "3")]


async def test_each_part_gets_its_receipts(env: Env) -> None:
    await env.send(text="x" * 200, status_callback_url=env.hook.url())
    receipts = env.receipts()
    assert len({r["messageId"] for r in receipts}) == 2
    assert sorted(r["status"] for r in receipts) == ["accepted", "accepted", "delivered", "delivered"]


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
@pytest.mark.parametrize("http_method", ["POST", "POST-JSON", "GET"])
async def test_signed_receipts_verify(env: Env, method: SignatureMethod, http_method: str) -> None:
    await configure(env, signature_secret=SECRET, signature_method=method, http_method=http_method)
    await env.send(status_callback_url=env.hook.url("/dlr"))
    assert {c.method for c in env.hook.calls} == {"GET" if http_method == "GET" else "POST"}
    config = env.sim.adapter_config(env.base)
    assert config.signature_method == method
    for fields in env.receipts():
        assert fields["timestamp"] == str(int(NOW)) and len(fields["nonce"]) == 36
        assert verify_receipt_signature(config, None, fields, now=NOW + 10)
        assert verify_receipt_signature(SecretStr(SECRET), method, fields, now=NOW)
        assert not verify_receipt_signature("other", method, fields, now=NOW)
        assert not verify_receipt_signature(config, None, {**fields, "err-code": "3"}, now=NOW)
        assert not verify_receipt_signature(config, None, fields, now=NOW + 301)  # a replay
        assert not verify_receipt_signature(config, None, {k: v for k, v in fields.items() if k != "sig"}, now=NOW)
        if method != "md5hash":  # the SDK implements the HMACs only
            assert Auth(api_key=env.sim.api_key, signature_secret=SECRET, signature_method=method).check_signature(
                dict(fields)
            )
            assert not Auth(api_key=env.sim.api_key, signature_secret=SECRET, signature_method=method).check_signature(
                {**fields, "status": "failed"}
            )


async def test_unsigned_without_a_secret(env: Env) -> None:
    await env.send(status_callback_url=env.hook.url())
    assert all("sig" not in r and "nonce" not in r for r in env.receipts())
    assert not verify_receipt_signature(env.sim.adapter_config(env.base), None, env.receipts()[0], now=NOW)


async def test_account_route_refuses_other_keys_and_bad_settings(env: Env) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{env.base}/_sandbox/vonage/accounts/nope", json={}) as r:
            assert r.status == 404
        url = f"{env.base}/_sandbox/vonage/accounts/{env.sim.api_key}"
        async with s.put(url, json={"signature_method": "crc32"}) as r:
            assert r.status == 400


def test_signature_vectors_from_vonages_sdk() -> None:
    # Vonage's Python SDK 3.x tests: secret "secret", {"a": "1", "b": "2", "timestamp": "1461605396"}.
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert receipt_signature("secret", "md5hash", params) == "6af838ef94998832dbfc29020b564830"
    assert receipt_signature("secret", "md5", params) == "C15C21CED558C93A226C305F58F902F2"
    assert receipt_signature("secret", "sha1", params) == "3E19A4E6880FDC2C1426BFD0587C98B9532F0210"
    assert verify_receipt_signature(
        "secret", "md5hash", {**params, "sig": "6AF838EF94998832DBFC29020B564830"}, now=1461605396
    )
    # & and = in values are replaced by _ before hashing: the text hashed is spelled out here.
    odd = {"text": "a&b=c", "timestamp": "1"}
    text = "&text=a_b_c&timestamp=1"
    assert receipt_signature("k", "md5hash", odd) == hashlib.md5((text + "k").encode()).hexdigest()
