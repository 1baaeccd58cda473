"""Web push: the adapter against the sandbox push service, every documented answer, and
independent cross-checks with pywebpush, http_ece and py_vapid."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import http_ece
import jwt
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from py_vapid import jwt as vapid_jwt
from pydantic import SecretStr
from pywebpush import WebPusher, webpush

from herald.kit.egress import EgressPolicy
from herald.providers.messages import PushMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.providers.webpush import WebPushAdapter, WebPushConfig
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox
from herald.sandbox.webpush import WebPushSimulator
from tests.network import Listener, fake_dns, subscription, vapid_config


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Env:
    def __init__(self, sim: WebPushSimulator, inbox: Inbox, base_url: str) -> None:
        self.sim, self.inbox, self.base_url = sim, inbox, base_url
        self.adapters: list[WebPushAdapter] = []

    def adapter(self, config: WebPushConfig | None = None) -> WebPushAdapter:
        adapter = WebPushAdapter(config or self.sim.adapter_config(self.base_url))
        self.adapters.append(adapter)
        return adapter


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    inbox = Inbox()
    sim = WebPushSimulator(inbox)
    sandbox = Sandbox([sim], inbox)
    port = await sandbox.start("127.0.0.1", 0)
    sim.base_url = f"http://127.0.0.1:{port}"
    e = Env(sim, inbox, sim.base_url)
    yield e
    for adapter in e.adapters:
        await adapter.close()
    await sandbox.stop()


def push(subscription: dict[str, Any], **kw: Any) -> PushMessage:
    fields: dict[str, Any] = {
        "key": secrets.token_hex(16),
        "platform": "web",
        "token": subscription["endpoint"],
        "title": "Hi",
        "body": "There",
        "data": {"order": "42"},
        "subscription": subscription,
    }
    return PushMessage(**{**fields, **kw})


def faults(sim: WebPushSimulator, **kw: Any) -> None:
    sim.faults.configure(FaultSettings(**kw))


# Success and the key in its slot


async def test_delivered_with_location_and_key_in_inbox(env: Env) -> None:
    sub = env.sim.subscribe()
    message = push(sub, priority="normal", ttl_seconds=600)
    outcome = await env.adapter().send(message)
    assert isinstance(outcome, Delivered)
    assert outcome.provider_message_id is not None
    assert outcome.provider_message_id.startswith(f"{env.base_url}/m/")
    [entry] = env.inbox.entries(provider="webpush")
    assert entry.destination == sub["endpoint"]
    assert (entry.key, entry.collapse_key) == (message.key, None)
    assert entry.headers["Topic"] == message.key
    assert outcome.provider_message_id.endswith(entry.message_id)
    assert entry.body == {"title": "Hi", "body": "There", "data": {"order": "42"}, "key": message.key}
    assert entry.headers == {"TTL": "600", "Urgency": "normal", "Topic": message.key}


async def test_resend_to_an_online_browser_shows_twice(env: Env) -> None:
    """A Topic only replaces a message the push service still holds (RFC 8030 5.4): once
    delivered, a resend is shown again, and the adapter says it cannot collapse it."""
    sub = env.sim.subscribe()
    adapter = env.adapter()
    message = push(sub)
    for _ in range(2):
        assert isinstance(await adapter.send(message), Delivered)
    assert env.inbox.count_by_key() == {message.key: 2}
    assert len(env.inbox.visible(sub["endpoint"])) == 2
    assert adapter.collapses_duplicates is False


async def test_subscription_control_route(env: Env) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{env.base_url}/_sandbox/webpush/subscriptions") as r:
        assert r.status == 201
        sub = await r.json()
    assert sub["endpoint"].startswith(f"{env.base_url}/wp/")
    assert len(base64.urlsafe_b64decode(sub["keys"]["p256dh"] + "==")) == 65
    assert isinstance(await env.adapter().send(push(sub)), Delivered)


# Every documented answer


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("400", PermanentFailure),
        ("401", PermanentFailure),
        ("403", PermanentFailure),
        ("404", DeadAddress),
        ("410", DeadAddress),
        ("413", PermanentFailure),
        ("429", RetryLater),
        ("500", RetryLater),
        ("502", RetryLater),
        ("503", RetryLater),
    ],
)
async def test_every_documented_status(env: Env, code: str, kind: type) -> None:
    faults(env.sim, error_rates={code: 1.0}, throttle_retry_after=9)
    outcome = await env.adapter().send(push(env.sim.subscribe()))
    assert isinstance(outcome, kind)
    assert outcome.code == code
    if code in ("429", "503"):
        assert isinstance(outcome, RetryLater) and outcome.retry_after == 9.0
    assert len(env.inbox) == 0


async def test_throttle_honours_retry_after(env: Env) -> None:
    faults(env.sim, throttle_count=1, throttle_retry_after=30)
    outcome = await env.adapter().send(push(env.sim.subscribe()))
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("429", 30.0)


async def test_unknown_subscription_is_dead(env: Env) -> None:
    sub = env.sim.subscribe()
    gone = {**sub, "endpoint": f"{env.base_url}/wp/never-issued"}
    outcome = await env.adapter().send(push(gone))
    assert isinstance(outcome, DeadAddress) and outcome.code == "404"


async def test_revoked_subscription_is_gone(env: Env) -> None:
    sub = env.sim.subscribe()
    env.sim.faults.revoked.add(sub["endpoint"])
    outcome = await env.adapter().send(push(sub))
    assert isinstance(outcome, DeadAddress) and outcome.code == "410"
    assert len(env.inbox) == 0


async def test_accept_then_drop_is_unknown(env: Env) -> None:
    faults(env.sim, drop_rate=1.0)
    message = push(env.sim.subscribe())
    outcome = await env.adapter().send(message)
    assert isinstance(outcome, UnknownOutcome)
    assert env.inbox.count_by_key() == {message.key: 1}


# Checks made before sending


async def test_oversized_payload_is_refused_without_sending(env: Env) -> None:
    outcome = await env.adapter().send(push(env.sim.subscribe(), body="x" * 4000))
    assert isinstance(outcome, PermanentFailure) and outcome.code == "payload_too_large"


@pytest.mark.parametrize("keys", [{}, {"p256dh": "bm90IGEga2V5", "auth": "c2VjcmV0c2VjcmV0c2VjcmV0"}])
async def test_malformed_subscription_is_dead(env: Env, keys: dict[str, str]) -> None:
    sub = {"endpoint": f"{env.base_url}/wp/x", "keys": keys}
    outcome = await env.adapter().send(push(sub))
    assert isinstance(outcome, DeadAddress) and outcome.code == "invalid_subscription"


# VAPID: the adapter's identity, and the push service's checks


async def test_subscription_restricted_to_another_key_is_forbidden(env: Env) -> None:
    other = WebPushAdapter(
        WebPushConfig(
            vapid_private_key=SecretStr(_pem(ec.generate_private_key(ec.SECP256R1()))),
            vapid_subject="mailto:a@example.com",
        )
    )
    restricted = env.sim.subscribe(application_server_key=other.public_key)
    outcome = await env.adapter().send(push(restricted))
    assert isinstance(outcome, PermanentFailure) and outcome.code == "403"
    assert isinstance(await other.send(push(restricted)), Delivered)
    await other.close()


async def test_raw_base64url_vapid_key_is_accepted(env: Env) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    adapter = env.adapter(WebPushConfig(vapid_private_key=SecretStr(raw), vapid_subject="https://herald.example"))
    assert isinstance(await adapter.send(push(env.sim.subscribe())), Delivered)


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _vapid(key: ec.EllipticCurvePrivateKey, **claims: Any) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return f"vapid t={jwt.encode(claims, key, algorithm='ES256')}, k={b64url(public)}"


async def _raw_push(env: Env, sub: dict[str, Any], body: bytes, **changes: Any) -> int:
    """A hand-built request: a valid push unless `changes` spoils one part of it."""
    key = ec.generate_private_key(ec.SECP256R1())
    claims = {"aud": env.base_url, "exp": int(time.time()) + 3600, "sub": "mailto:a@example.com"}
    claims.update(changes.pop("claims", {}))
    headers = {"TTL": "60", "Content-Encoding": "aes128gcm", "Authorization": _vapid(key, **claims)}
    headers.update(changes)
    headers = {k: v for k, v in headers.items() if v is not None}
    async with aiohttp.ClientSession() as s, s.post(sub["endpoint"], data=body, headers=headers) as r:
        return r.status


def _encrypted_for(sub: dict[str, Any], data: bytes = b'{"key": "k"}') -> bytes:
    """Encrypted by pywebpush's own code, not ours."""
    body: bytes = WebPusher(sub).encode(data, "aes128gcm")["body"]
    return body


async def test_hand_built_valid_push_is_accepted(env: Env) -> None:
    sub = env.sim.subscribe()
    assert await _raw_push(env, sub, _encrypted_for(sub)) == 201
    assert env.inbox.entries()[0].key == "k"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"TTL": None}, 400),
        ({"TTL": "soon"}, 400),
        ({"Content-Encoding": "aesgcm"}, 400),
        ({"Content-Encoding": None}, 400),
        ({"Urgency": "urgent"}, 400),
        ({"Topic": "t" * 33}, 400),
        ({"Topic": "not/base64url"}, 400),
        ({"Authorization": None}, 401),
        ({"Authorization": "WebPush abc"}, 401),
        ({"claims": {"aud": "https://push.example.net"}}, 403),
        ({"claims": {"exp": int(time.time()) + 25 * 3600}}, 403),
        ({"claims": {"exp": int(time.time()) - 10}}, 403),
        ({"claims": {"sub": "push@example.com"}}, 403),
    ],
)
async def test_push_service_rejects_bad_requests(env: Env, changes: dict[str, Any], status: int) -> None:
    sub = env.sim.subscribe()
    assert await _raw_push(env, sub, _encrypted_for(sub), **changes) == status
    assert len(env.inbox) == 0


async def test_vapid_signed_by_another_key_is_forbidden(env: Env) -> None:
    sub = env.sim.subscribe()
    signer, claimed = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    token = _vapid(signer, aud=env.base_url, exp=int(time.time()) + 60, sub="mailto:a@b.c").split(",")[0]
    public = claimed.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert await _raw_push(env, sub, _encrypted_for(sub), Authorization=f"{token}, k={b64url(public)}") == 403


@pytest.mark.parametrize("body", ["garbage", "other_subscription", "too_big"])
async def test_push_service_rejects_bodies(env: Env, body: str) -> None:
    sub = env.sim.subscribe()
    payload = {
        "garbage": os.urandom(200),
        "other_subscription": _encrypted_for(env.sim.subscribe()),
        "too_big": os.urandom(4097),
    }[body]
    assert await _raw_push(env, sub, payload) == (413 if body == "too_big" else 400)
    assert len(env.inbox) == 0


# Independent cross-checks


async def test_pywebpush_push_decrypts_in_the_sandbox(env: Env) -> None:
    sub = env.sim.subscribe()
    vapid = Vapid()
    vapid.generate_keys()
    data = orjson.dumps({"title": "From pywebpush", "key": "a" * 32}).decode()
    response = await asyncio.to_thread(
        webpush,
        sub,
        data,
        vapid_private_key=vapid,
        vapid_claims={"sub": "mailto:ops@example.com"},
        ttl=60,
        headers={"Topic": "a" * 32, "Urgency": "high"},
    )
    assert response.status_code == 201
    [entry] = env.inbox.entries(provider="webpush")
    assert entry.body == {"title": "From pywebpush", "key": "a" * 32}
    assert (entry.key, entry.collapse_key) == ("a" * 32, None)


async def test_adapter_payload_decrypts_with_http_ece_and_vapid_verifies_with_py_vapid() -> None:
    captured: list[tuple[bytes, dict[str, str]]] = []

    async def capture(request: web.Request) -> web.Response:
        captured.append((await request.read(), dict(request.headers)))
        return web.Response(status=201, headers={"Location": "/m/1"})

    app = web.Application()
    app.add_routes([web.post("/push/{id}", capture)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ua_key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
    ua_public = ua_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    sub = {"endpoint": f"http://127.0.0.1:{port}/push/abc", "keys": {"p256dh": b64url(ua_public), "auth": b64url(auth)}}
    adapter = WebPushAdapter(
        WebPushConfig(
            vapid_private_key=SecretStr(_pem(ec.generate_private_key(ec.SECP256R1()))),
            vapid_subject="mailto:ops@example.com",
        )
    )
    try:
        messages = [push(sub), push(sub)]
        for m in messages:
            assert isinstance(await adapter.send(m), Delivered)
    finally:
        await adapter.close()
        await runner.cleanup()
    (body, headers), (_, headers2) = captured
    plaintext = http_ece.decrypt(body, private_key=ua_key, auth_secret=auth, version="aes128gcm")
    assert orjson.loads(plaintext) == {"title": "Hi", "body": "There", "data": {"order": "42"}, "key": messages[0].key}
    assert headers["Content-Encoding"] == "aes128gcm" and headers["Topic"] == messages[0].key
    token, key = (p.split("=", 1)[1] for p in headers["Authorization"].removeprefix("vapid ").split(", "))
    claims = vapid_jwt.decode(token, key)
    assert claims["aud"] == f"http://127.0.0.1:{port}" and claims["sub"] == "mailto:ops@example.com"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert headers2["Authorization"] == headers["Authorization"]  # one JWT per audience, reused


def test_config_never_shows_the_key(env: Env) -> None:
    config = env.sim.adapter_config(env.base_url)
    assert "PRIVATE KEY" not in repr(config) and "PRIVATE KEY" not in str(config)


# The egress rules: the app chose the endpoint, so Herald checks where it really leads


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    server = await Listener().start()
    yield server
    await server.stop()


async def test_production_refuses_a_loopback_endpoint_without_connecting(env: Env, listener: Listener) -> None:
    config = env.sim.adapter_config(env.base_url)
    production = WebPushAdapter(config, egress=EgressPolicy(production=True).push)
    env.adapters.append(production)
    for endpoint in (f"http://127.0.0.1:{listener.port}/wp/x", f"https://127.0.0.1:{listener.port}/wp/x"):
        outcome = await production.send(push(subscription(endpoint)))
        assert isinstance(outcome, DeadAddress) and outcome.code == "egress_denied", outcome
    assert listener.connections == 0
    sandboxed = push(env.sim.subscribe())
    assert isinstance(await production.send(sandboxed), DeadAddress)
    assert len(env.inbox) == 0
    # Development's rules (the default) keep the sandbox on loopback reachable.
    assert isinstance(await env.adapter(config).send(sandboxed), Delivered)


async def test_an_endpoint_rebound_to_loopback_is_dead_and_never_connected(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"push.rebind.test": "127.0.0.1"})
    policy = EgressPolicy(production=True)
    endpoint = f"https://push.rebind.test:{listener.port}/wp/x"
    assert policy.push.refusal(endpoint) is None  # what registration could see
    adapter = WebPushAdapter(WebPushConfig.model_validate(vapid_config()), egress=policy.push)
    try:
        outcome = await adapter.send(push(subscription(endpoint)))
    finally:
        await adapter.close()
    assert isinstance(outcome, DeadAddress) and outcome.code == "egress_denied"
    assert "127.0.0.1" in (outcome.detail or "")
    assert listener.connections == 0
