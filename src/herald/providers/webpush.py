"""Web push (RFC 8030) with aes128gcm payload encryption (RFC 8291) and VAPID (RFC 8292).

The endpoint belongs to whichever push service the browser chose, so there is no base URL:
each message carries its subscription. Herald's key is the `Topic`, which makes a push
service replace a pending copy instead of delivering a resend twice.

The app chooses each endpoint, so every connection goes through the egress rules' push
guard (kit/egress.py): https, public addresses only, at registration and at connect time.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import http_ece
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, SecretStr

from herald.kit.channels import Channel
from herald.kit.egress import EGRESS_DENIED, EgressPolicy, Guard
from herald.providers.http import HttpAnswer, HttpClient, retry_after_seconds
from herald.providers.messages import OutboundMessage, PushMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    truncate,
)

RECORD_SIZE = 4096
# Push services accept 4096 bytes of body: 86 of header, 17 of padding delimiter and tag.
MAX_BODY_BYTES = 4096
VAPID_LIFETIME = 12 * 3600  # RFC 8292 allows at most 24 h; half leaves room for clock skew
VAPID_RENEW_BEFORE = 3600


class WebPushConfig(BaseModel):
    # The application server's P-256 key: PEM, or the raw 32-byte scalar in base64url.
    vapid_private_key: SecretStr
    vapid_subject: str  # mailto: or https: contact, as RFC 8292 requires
    timeout: float = 10.0
    max_connections: int = 256


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_vapid_key(secret: SecretStr) -> ec.EllipticCurvePrivateKey:
    """The VAPID key from PEM, base64url DER, or the raw scalar; errors never echo the key."""
    text = secret.get_secret_value().strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text.replace("\n", ""))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("vapid_private_key is not a PEM, DER or raw P-256 key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("vapid_private_key is not a P-256 key")
    return key


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def encrypt(plaintext: bytes, p256dh: str, auth: str) -> bytes:
    """RFC 8291 aes128gcm, one record, with a fresh ephemeral key per message."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(
        plaintext,
        salt=os.urandom(16),
        private_key=ephemeral,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aes128gcm",
        rs=RECORD_SIZE,
    )
    return body


class WebPushAdapter:
    name = "webpush"
    channel = Channel.PUSH
    # Herald's key is the `Topic`, but RFC 8030 topics only replace a message the push
    # service still holds: one already delivered to an online browser is shown again.
    collapses_duplicates = False

    def __init__(
        self, config: WebPushConfig, *, clock: Callable[[], float] = time.time, egress: Guard | None = None
    ) -> None:
        """`egress`: the push guard of the deployment's policy; without one, development's
        rules (Settings' defaults), which still refuse every non-loopback private address."""
        self.config = config
        self._key = load_vapid_key(config.vapid_private_key)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = b64url(public)  # what browsers subscribe with (applicationServerKey)
        self._clock = clock
        guard = egress if egress is not None else EgressPolicy().push
        self._http = HttpClient(limit=config.max_connections, timeout=config.timeout, guard=guard)
        self._vapid: dict[str, tuple[str, float]] = {}

    def vapid_header(self, audience: str) -> str:
        """`vapid t=<jwt>, k=<key>`; one JWT per push service origin, reused for hours."""
        now = self._clock()
        cached = self._vapid.get(audience)
        if cached is None or cached[1] - now < VAPID_RENEW_BEFORE:
            exp = int(now) + VAPID_LIFETIME
            claims = {"aud": audience, "exp": exp, "sub": self.config.vapid_subject}
            cached = (jwt.encode(claims, self._key, algorithm="ES256"), float(exp))
            self._vapid[audience] = cached
        return f"vapid t={cached[0]}, k={self.public_key}"

    def request(self, m: PushMessage) -> tuple[str, dict[str, str], bytes] | Outcome:
        """Endpoint, headers and encrypted body, or why this message cannot be sent."""
        sub: dict[str, Any] = m.subscription or {}
        keys = sub.get("keys")
        keys = keys if isinstance(keys, dict) else {}
        endpoint = sub.get("endpoint") or m.token
        if not endpoint or not keys.get("p256dh") or not keys.get("auth"):
            return DeadAddress("invalid_subscription", "subscription lacks endpoint, p256dh or auth")
        payload = orjson.dumps({"title": m.title, "body": m.body, "data": m.data, "key": m.key})
        try:
            body = encrypt(payload, str(keys["p256dh"]), str(keys["auth"]))
        except (ValueError, TypeError, binascii.Error, http_ece.ECEException):
            # A subscription whose keys are not a P-256 point and a secret can never work.
            return DeadAddress("invalid_subscription", "subscription keys are malformed")
        if len(body) > MAX_BODY_BYTES:
            return PermanentFailure("payload_too_large", f"{len(body)} bytes > {MAX_BODY_BYTES}")
        headers = {
            "TTL": str(max(0, m.ttl_seconds)),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": "high" if m.priority == "high" else "normal",
            "Topic": m.key,
            "Authorization": self.vapid_header(origin(endpoint)),
        }
        return str(endpoint), headers, body

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, PushMessage)
        prepared = self.request(message)
        if not isinstance(prepared, tuple):
            return prepared
        endpoint, headers, body = prepared
        answer = await self._http.request("POST", endpoint, data=body, headers=headers)
        if isinstance(answer, PermanentFailure) and answer.code == EGRESS_DENIED:
            # The endpoint can never be reached under these rules: retire the subscription.
            return DeadAddress(answer.code, answer.detail)
        if not isinstance(answer, HttpAnswer):
            return answer
        return classify(answer)

    async def close(self) -> None:
        await self._http.close()


def classify(answer: HttpAnswer) -> Outcome:
    """A push service's answer by status: the RFCs define no error codes beyond it."""
    status, code = answer.status, str(answer.status)
    detail = truncate(answer.text())
    if status in (200, 201, 202):
        return Delivered(answer.headers.get("Location"), code)
    if status in (404, 410):
        return DeadAddress(code, detail)
    if status == 429 or status >= 500:
        return RetryLater(code, detail, retry_after_seconds(answer.headers.get("Retry-After")))
    return PermanentFailure(code, detail)
