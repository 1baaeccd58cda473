"""FCM HTTP v1: the adapter against the sandbox, every errorCode, the OAuth2 flow both ways."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from herald.providers.fcm import JWT_BEARER, SCOPE, FcmAdapter, FcmConfig
from herald.providers.messages import PushMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.sandbox.faults import FaultSettings
from herald.sandbox.fcm import FcmSimulator
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox


class Env:
    def __init__(self, sim: FcmSimulator, inbox: Inbox, base_url: str) -> None:
        self.sim, self.inbox, self.base_url = sim, inbox, base_url
        self.adapters: list[FcmAdapter] = []

    def adapter(self, config: FcmConfig | None = None) -> FcmAdapter:
        adapter = FcmAdapter(config or self.sim.adapter_config(self.base_url))
        self.adapters.append(adapter)
        return adapter

    def info(self) -> dict[str, str]:
        return self.sim.service_account_info(self.base_url)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    inbox = Inbox()
    sim = FcmSimulator(inbox, project_id="herald-test")
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    e = Env(sim, inbox, f"http://127.0.0.1:{port}")
    yield e
    for adapter in e.adapters:
        await adapter.close()
    await sandbox.stop()


def push(token: str = "fcm-token-1", **kw: Any) -> PushMessage:
    fields: dict[str, Any] = {
        "key": secrets.token_hex(16),
        "platform": "android",
        "token": token,
        "title": "Hi",
        "body": "There",
        "data": {"order": "42"},
    }
    return PushMessage(**{**fields, **kw})


def config_with(info: dict[str, str], base_url: str) -> FcmConfig:
    return FcmConfig(base_url=base_url, service_account=SecretStr(orjson.dumps(info).decode()))


def faults(sim: FcmSimulator, **kw: Any) -> None:
    sim.faults.configure(FaultSettings(**kw))


async def post_token(base_url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(f"{base_url}/token", data=form) as r:
        return r.status, await r.json()


async def post_send(env: Env, body: Any, token: str | None, project: str = "herald-test") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{env.base_url}/v1/projects/{project}/messages:send"
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def google_auth_token(info: dict[str, str]) -> str:
    """An access token obtained by Google's own client library, not by our adapter."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])  # type: ignore[no-untyped-call]
    await asyncio.to_thread(creds.refresh, google.auth.transport.requests.Request())
    assert isinstance(creds.token, str)
    return creds.token


# Success and the key in its slot


async def test_delivered_with_name_and_key_in_inbox(env: Env) -> None:
    message = push(priority="normal", ttl_seconds=3600)
    outcome = await env.adapter().send(message)
    assert isinstance(outcome, Delivered)
    assert outcome.provider_message_id is not None
    assert outcome.provider_message_id.startswith("projects/herald-test/messages/")
    [entry] = env.inbox.entries(provider="fcm")
    assert entry.destination == "fcm-token-1"
    assert entry.key == message.key
    assert entry.collapse_key == message.key
    assert entry.message_id in outcome.provider_message_id
    assert entry.body["data"] == {"order": "42", "herald_key": message.key}
    assert entry.body["android"] == {
        "collapse_key": message.key,
        "priority": "NORMAL",
        "ttl": "3600s",
        "notification": {"tag": message.key},
    }
    assert entry.body["notification"] == {"title": "Hi", "body": "There"}


async def test_access_token_is_cached_across_sends(env: Env) -> None:
    adapter = env.adapter()
    for _ in range(3):
        assert isinstance(await adapter.send(push()), Delivered)
    assert env.sim.tokens_issued == 1


async def test_concurrent_sends_share_one_token_refresh(env: Env) -> None:
    adapter = env.adapter()
    outcomes = await asyncio.gather(*(adapter.send(push(f"tok-{i}")) for i in range(20)))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert env.sim.tokens_issued == 1


# Every errorCode row of PROVIDERS.md


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("INVALID_ARGUMENT", PermanentFailure),
        ("THIRD_PARTY_AUTH_ERROR", PermanentFailure),
        ("SENDER_ID_MISMATCH", PermanentFailure),
        ("UNREGISTERED", DeadAddress),
        ("QUOTA_EXCEEDED", RetryLater),
        ("INTERNAL", RetryLater),
        ("UNAVAILABLE", RetryLater),
    ],
)
async def test_every_error_code(env: Env, code: str, kind: type) -> None:
    faults(env.sim, error_rates={code: 1.0})
    adapter = env.adapter()
    outcome = await adapter.send(push())
    assert isinstance(outcome, kind)
    assert outcome.code == code
    assert len(env.inbox) == 0
    assert env.sim.tokens_issued == 1  # no renewal: only a plain 401 renews the token
    if code == "QUOTA_EXCEEDED":
        assert isinstance(outcome, RetryLater)
        assert outcome.retry_after is not None and outcome.retry_after >= 60


async def test_invalid_registration_token_retires_the_device(env: Env) -> None:
    outcome = await env.adapter().send(push("not a token!"))
    assert isinstance(outcome, DeadAddress)
    assert outcome.code == "INVALID_ARGUMENT"
    assert "registration token" in (outcome.detail or "")


async def test_revoked_token_is_unregistered(env: Env) -> None:
    env.sim.faults.revoked.add("gone-token")
    outcome = await env.adapter().send(push("gone-token"))
    assert isinstance(outcome, DeadAddress)
    assert outcome.code == "UNREGISTERED"
    assert len(env.inbox) == 0


# Retry-After and throttling


@pytest.mark.parametrize(("retry_after", "expected"), [(1, 60.0), (120, 120.0)])
async def test_quota_throttle_waits_at_least_a_minute(env: Env, retry_after: int, expected: float) -> None:
    faults(env.sim, throttle_count=1, throttle_retry_after=retry_after)
    outcome = await env.adapter().send(push())
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("QUOTA_EXCEEDED", expected)


async def test_unavailable_honours_retry_after(env: Env) -> None:
    faults(env.sim, error_rates={"UNAVAILABLE": 1.0}, throttle_retry_after=7)
    outcome = await env.adapter().send(push())
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("UNAVAILABLE", 7.0)


async def test_per_device_quota() -> None:
    now = [time.time()]
    inbox = Inbox()
    sim = FcmSimulator(inbox, project_id="p", clock=lambda: now[0], device_quota_per_minute=3)
    sandbox = Sandbox([sim], inbox)
    base_url = f"http://127.0.0.1:{await sandbox.start('127.0.0.1', 0)}"
    adapter = FcmAdapter(sim.adapter_config(base_url))
    try:
        outcomes = [await adapter.send(push("busy")) for _ in range(4)]
        assert [type(o) for o in outcomes[:3]] == [Delivered] * 3
        assert isinstance(outcomes[3], RetryLater)
        assert outcomes[3].code == "QUOTA_EXCEEDED" and (outcomes[3].retry_after or 0) >= 60
        assert isinstance(await adapter.send(push("other-device")), Delivered)
        now[0] += 60
        assert isinstance(await adapter.send(push("busy")), Delivered)
    finally:
        await adapter.close()
        await sandbox.stop()


async def test_accept_then_drop_is_unknown(env: Env) -> None:
    faults(env.sim, drop_rate=1.0)
    message = push()
    outcome = await env.adapter().send(message)
    assert isinstance(outcome, UnknownOutcome)
    assert env.inbox.count_by_key() == {message.key: 1}


# Checks made before sending


async def test_reserved_data_key_is_refused_without_sending(env: Env) -> None:
    outcome = await env.adapter().send(push(data={"google.sent_time": "1"}))
    assert isinstance(outcome, PermanentFailure)
    assert outcome.code == "reserved_data_key"
    assert env.sim.tokens_issued == 0


async def test_oversized_payload_is_refused_without_sending(env: Env) -> None:
    outcome = await env.adapter().send(push(body="x" * 4096))
    assert isinstance(outcome, PermanentFailure)
    assert outcome.code == "payload_too_large"
    assert env.sim.tokens_issued == 0


# Auth rejections


async def test_expired_access_token_is_renewed_once(env: Env) -> None:
    adapter = env.adapter()
    assert isinstance(await adapter.send(push()), Delivered)
    env.sim.expire_access_tokens()
    assert isinstance(await adapter.send(push()), Delivered)
    assert env.sim.tokens_issued == 2


async def test_persistent_unauthenticated_is_permanent_after_one_renewal(env: Env) -> None:
    faults(env.sim, error_rates={"UNAUTHENTICATED": 1.0})
    outcome = await env.adapter().send(push())
    assert isinstance(outcome, PermanentFailure)
    assert outcome.code == "UNAUTHENTICATED"
    assert env.sim.tokens_issued == 2


async def test_assertion_signed_by_another_key_is_refused(env: Env) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    outcome = await env.adapter(config_with({**env.info(), "private_key": pem}, env.base_url)).send(push())
    assert isinstance(outcome, PermanentFailure)
    assert outcome.code == "invalid_grant"
    assert "Signature" in (outcome.detail or "")
    assert env.sim.tokens_issued == 0


async def test_wrong_project_is_permission_denied(env: Env) -> None:
    adapter = env.adapter(config_with({**env.info(), "project_id": "someone-else"}, env.base_url))
    outcome = await adapter.send(push())
    assert isinstance(outcome, PermanentFailure)
    assert outcome.code == "PERMISSION_DENIED"
    assert len(env.inbox) == 0


def _claims(env: Env, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": env.sim.client_email,
        "scope": SCOPE,
        "aud": f"{env.base_url}/token",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"aud": "https://auth.example.com/token"}, "invalid_grant"),
        ({"exp": int(time.time()) + 7200}, "invalid_grant"),  # longer than an hour
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "invalid_grant"),
        ({"iss": "intruder@example.iam.gserviceaccount.com"}, "invalid_grant"),
        ({"scope": None}, "invalid_scope"),
    ],
)
async def test_token_endpoint_checks_the_assertion(env: Env, changes: dict[str, Any], error: str) -> None:
    info = env.info()
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    assertion = jwt.encode(_claims(env, **changes), key, algorithm="RS256")  # type: ignore[arg-type]
    status, body = await post_token(env.base_url, {"grant_type": JWT_BEARER, "assertion": assertion})
    assert (status, body["error"]) == (400, error)
    assert env.sim.tokens_issued == 0


async def test_token_endpoint_checks_grant_type(env: Env) -> None:
    status, body = await post_token(env.base_url, {"grant_type": "client_credentials", "assertion": "x"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")


@pytest.mark.parametrize("bearer", [None, "ya29.made-up"])
async def test_send_without_a_live_bearer_is_unauthenticated(env: Env, bearer: str | None) -> None:
    status, body = await post_send(env, {"message": {"token": "t"}}, bearer)
    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert "details" not in body["error"]


# Independent cross-checks: Google's own client library against the sandbox


async def test_google_auth_obtains_a_token_the_send_api_accepts(env: Env) -> None:
    token = await google_auth_token(env.info())
    status, body = await post_send(env, {"message": {"token": "t1", "data": {"herald_key": "k"}}}, token)
    assert status == 200
    assert body["name"].startswith("projects/herald-test/messages/")
    assert env.inbox.entries(provider="fcm")[0].key == "k"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"data": {"x": "1"}}, "message"),  # no target
        ({"token": "t", "topic": "news"}, "message.topic"),
        ({"token": "t", "data": {"n": 12}}, "message.data[0].value"),
        ({"token": "t", "data": {"from": "me"}}, "message.data[0].key"),
        ({"token": "t", "data": {"gcm.notification.title": "x"}}, "message.data[0].key"),
        ({"token": "t", "android": {"ttl": "10"}}, "message.android.ttl"),
        ({"token": "t", "android": {"priority": "URGENT"}}, "message.android.priority"),
        ({"token": "t", "data": {"big": "x" * 4096}}, "message"),
        ({"token": "t", "colour": "red"}, "message.colour"),
    ],
)
async def test_simulator_validates_like_fcm(env: Env, message: dict[str, Any], field: str) -> None:
    token = await google_auth_token(env.info())
    status, body = await post_send(env, {"message": message}, token)
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    violations = [d for d in body["error"]["details"] if "fieldViolations" in d]
    assert violations[0]["fieldViolations"][0]["field"] == field
    assert len(env.inbox) == 0


async def test_validate_only_is_not_delivered(env: Env) -> None:
    token = await google_auth_token(env.info())
    status, body = await post_send(env, {"validate_only": True, "message": {"token": "t"}}, token)
    assert status == 200 and body["name"].endswith("/fake_message_id")
    assert len(env.inbox) == 0


def test_config_never_shows_the_key(env: Env) -> None:
    config = env.sim.adapter_config(env.base_url)
    assert "PRIVATE KEY" not in repr(config) and "PRIVATE KEY" not in str(config)
