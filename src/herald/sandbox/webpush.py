"""The web push sandbox: a browser push service (RFC 8030) and the browsers behind it.

It hands out subscriptions whose private keys it keeps, so it can do what the browser does:
decrypt each push (RFC 8291). It checks VAPID as a push service must (RFC 8292), answers
404/410 for unknown or revoked subscriptions, and records what decrypts in the inbox. Its
browsers are always online, so a `Topic` (which only replaces a message still held by the
push service) collapses nothing: every delivered push is shown.
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from herald.providers.webpush import WebPushConfig
from herald.sandbox.faults import Faults
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection
from herald.sandbox.webpush_checks import (
    MAX_BODY_BYTES,
    Refusal,
    VapidVerifier,
    b64url_decode,
    check_headers,
    decrypt,
)


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    server_key: bytes | None  # the applicationServerKey it was created with, if any

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Errors in the shape Mozilla's autopush uses: code, error (reason phrase), message."""
    body = {"code": status, "error": HTTPStatus(status).phrase, "message": message}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


class WebPushSimulator:
    name = "webpush"

    def __init__(self, inbox: Inbox, *, base_url: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.inbox = inbox
        self.faults = Faults()
        # Endpoints are built from it; set it once the shared server knows its port.
        self.base_url = base_url
        self._clock = clock
        self._subscriptions: dict[str, Subscription] = {}
        self._vapid = VapidVerifier(clock)
        self._ids = itertools.count(1)
        # Any valid key passes a push service; this one is what adapter_config hands out.
        self.vapid_key = ec.generate_private_key(ec.SECP256R1())

    def adapter_config(self, base_url: str | None = None) -> WebPushConfig:
        """A VAPID identity for Herald; also fixes base_url for endpoints, if not yet set."""
        if base_url and not self.base_url:
            self.base_url = base_url.rstrip("/")
        pem = self.vapid_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return WebPushConfig(vapid_private_key=SecretStr(pem), vapid_subject="mailto:push@herald.localhost")

    @property
    def application_server_key(self) -> str:
        """The public half of adapter_config's key, as a page passes it to subscribe()."""
        public = self.vapid_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64url(public)

    def subscribe(self, base_url: str | None = None, application_server_key: str | None = None) -> dict[str, Any]:
        """What `pushManager.subscribe()` gives a page: endpoint and keys, private key kept here."""
        base = (base_url or self.base_url or "").rstrip("/")
        if not base:
            raise RuntimeError("WebPushSimulator.base_url is not set; pass base_url")
        private_key = ec.generate_private_key(ec.SECP256R1())
        public = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        auth = os.urandom(16)
        sub_id = secrets.token_urlsafe(24)
        server_key = b64url_decode(application_server_key) if application_server_key else None
        sub = Subscription(f"{base}/wp/{sub_id}", _b64url(public), _b64url(auth), private_key, auth, server_key)
        self._subscriptions[sub_id] = sub
        return sub.to_json()

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        return [
            web.post("/_sandbox/webpush/subscriptions", self._subscribe),
            web.post("/wp/{id}", self._push),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def _subscribe(self, request: web.Request) -> web.Response:
        options: dict[str, Any] = await request.json() if request.can_read_body else {}
        base = self.base_url or f"{request.scheme}://{request.host}"
        sub = self.subscribe(base, options.get("applicationServerKey"))
        return web.json_response(sub, status=201)

    def _audiences(self, request: web.Request) -> set[str]:
        audiences = {f"{request.scheme}://{request.host}"}
        if self.base_url:
            audiences.add(_origin(self.base_url))
        return audiences

    async def _push(self, request: web.Request) -> web.StreamResponse:
        await self.faults.delay()
        sub = self._subscriptions.get(request.match_info["id"])
        if sub is None:
            return _answer(404, "Subscription not found")
        if sub.endpoint in self.faults.revoked:
            return _answer(410, "Subscription has expired or been unsubscribed")
        body = await self._checked_body(request, sub)
        if isinstance(body, Refusal):
            return _answer(body.status, body.message)
        draw = self.faults.draw()
        if draw.kind == "error":
            return self._injected(draw.code or "500")
        if draw.kind == "throttle":
            return _answer(429, "Too many requests", {"Retry-After": str(draw.retry_after)})
        plaintext = decrypt(body, sub.private_key, sub.auth_secret) if body else b""
        if plaintext is None:
            return _answer(400, "Payload does not decrypt with the subscription's keys")
        message_id = f"{next(self._ids):x}{secrets.token_hex(6)}"
        self._record(sub, request, plaintext, message_id)
        if draw.kind == "drop":
            return await drop_connection(request)
        base = self.base_url or f"{request.scheme}://{request.host}"
        return web.Response(
            status=201, headers={"Location": f"{base.rstrip('/')}/m/{message_id}", "TTL": request.headers["TTL"]}
        )

    async def _checked_body(self, request: web.Request, sub: Subscription) -> bytes | Refusal:
        """The push service's checks, in its order: VAPID, size, then the RFC 8030 headers."""
        refusal = self._vapid.check(request.headers.get("Authorization"), self._audiences(request), sub.server_key)
        if refusal is not None:
            return refusal
        too_big = Refusal(413, f"Payload exceeds {MAX_BODY_BYTES} bytes")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return too_big
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            return too_big
        return check_headers(request.headers, bool(body)) or body

    def _injected(self, code: str) -> web.Response:
        status = int(code) if code.isdigit() and 400 <= int(code) < 600 else 500
        headers = None
        if status in (429, 503):
            headers = {"Retry-After": str(self.faults.settings.throttle_retry_after)}
        return _answer(status, f"Injected failure {code}", headers)

    def _record(self, sub: Subscription, request: web.Request, plaintext: bytes, message_id: str) -> None:
        try:
            payload: Any = orjson.loads(plaintext) if plaintext else None
        except orjson.JSONDecodeError:
            payload = plaintext.decode("utf-8", "replace")
        topic = request.headers.get("Topic")
        key = payload.get("key") if isinstance(payload, dict) else None
        headers = {h: request.headers[h] for h in ("TTL", "Urgency", "Topic") if h in request.headers}
        self.inbox.record(
            InboxEntry(
                provider="webpush",
                destination=sub.endpoint,
                message_id=message_id,
                key=key if isinstance(key, str) else topic,
                collapse_key=None,
                headers=headers,
                body=payload,
                received_at=self._clock(),
            )
        )
