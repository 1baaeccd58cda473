"""What a push service checks on an incoming push (RFC 8030 headers, RFC 8292 VAPID), and
what the browser does with the body (RFC 8291 decryption).

Kept apart from the adapter on purpose: the sandbox must catch what a wrong adapter sends.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY_BYTES = 4096
MAX_VAPID_AHEAD = 24 * 3600
_HEADER_BYTES = 16 + 4 + 1 + 65  # salt, record size, key id length, sender's public key
_URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"[A-Za-z0-9_\-]{1,32}")


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class _Vapid:
    aud: object
    exp: object
    sub: object
    key: bytes


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse_authorization(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        return None
    params = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        params[name.strip().lower()] = value.strip()
    return params if params.get("t") and params.get("k") else None


class VapidVerifier:
    """RFC 8292 checks. A sender reuses one JWT for hours, so a verified one is remembered
    and only its claims are checked again: the signature check is the expensive part."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._verified: dict[str, _Vapid] = {}

    def check(self, header: str | None, audiences: set[str], server_key: bytes | None) -> Refusal | None:
        params = _parse_authorization(header) if header else None
        if params is None:
            return Refusal(401, "Missing or malformed VAPID Authorization header")
        vapid = self._verified.get(header or "")
        if vapid is None:
            verified = self._verify(params["t"], params["k"])
            if isinstance(verified, Refusal):
                return verified
            if len(self._verified) >= 4096:
                self._verified.clear()
            vapid = self._verified[header or ""] = verified
        return self._claims(vapid, audiences, server_key)

    def _verify(self, token: str, key: str) -> _Vapid | Refusal:
        try:
            raw = b64url_decode(key)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False},
            )
        except (ValueError, binascii.Error, jwt.PyJWTError):
            return Refusal(403, "VAPID token signature is invalid")
        return _Vapid(claims.get("aud"), claims.get("exp"), claims.get("sub"), raw)

    def _claims(self, vapid: _Vapid, audiences: set[str], server_key: bytes | None) -> Refusal | None:
        now = self._clock()
        if server_key is not None and vapid.key != server_key:
            return Refusal(403, "VAPID key does not match the subscription's applicationServerKey")
        if vapid.aud not in audiences:
            return Refusal(403, "VAPID aud is not the origin of the push resource")
        if not isinstance(vapid.exp, int) or vapid.exp <= now:
            return Refusal(403, "VAPID token has expired")
        if vapid.exp > now + MAX_VAPID_AHEAD:
            return Refusal(403, "VAPID exp is more than 24 hours ahead")
        if not isinstance(vapid.sub, str) or not vapid.sub.startswith(("mailto:", "https:")):
            return Refusal(403, "VAPID sub must be a mailto: or https: contact")
        return None


def check_headers(headers: Mapping[str, str], has_body: bool) -> Refusal | None:
    """RFC 8030 request headers: TTL required, Urgency and Topic well formed."""
    ttl = headers.get("TTL")
    if ttl is None or not ttl.strip().isdigit():
        return Refusal(400, "Missing or invalid TTL header")
    if has_body and headers.get("Content-Encoding", "").lower() != "aes128gcm":
        return Refusal(400, "Unsupported Content-Encoding: aes128gcm required")
    urgency = headers.get("Urgency")
    if urgency is not None and urgency.lower() not in _URGENCIES:
        return Refusal(400, "Invalid Urgency header")
    topic = headers.get("Topic")
    if topic is not None and not _TOPIC.fullmatch(topic):
        return Refusal(400, "Topic must be at most 32 base64url characters")
    return None


def decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes | None:
    """The browser's side of RFC 8291: one aes128gcm record from the sender's ephemeral key."""
    if len(body) < _HEADER_BYTES + 17 or body[20] != 65:
        return None
    record_size = int.from_bytes(body[16:20], "big")
    if record_size < 18 or len(body) - _HEADER_BYTES > record_size:
        return None  # RFC 8291 allows a single record only
    try:
        plaintext: bytes = http_ece.decrypt(body, private_key=private_key, auth_secret=auth, version="aes128gcm")
    except (http_ece.ECEException, ValueError):
        return None
    return plaintext
