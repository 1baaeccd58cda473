"""The tokens in tracking URLs: authenticated, and revealing nothing.

A token is `base64url(version | nonce | AES-GCM-SIV(delivery id [| target URL]))`, with the
token's kind (open, click, unsubscribe) as associated data. So:

- nothing is in clear: a delivery id (a UUIDv7, partly guessable from its time) cannot be
  read from a link, nor a click's destination;
- a token cannot be forged or altered (a changed byte fails the tag), nor used as another
  kind (the kind is authenticated, so an open pixel's token is no unsubscribe token);
- a click carries its own target URL, the one the rendered email contained, so a redirect
  can only ever go there, and no table of links is needed.

The key is derived (HKDF-SHA256) from the deployment's secret key under a purpose label of
its own: it is never the key that seals credentials. Rotating the secret key invalidates
the links in email already sent (they answer 404). AES-GCM-SIV rather than AES-GCM: a nonce
repeated by chance reveals only that two tokens are equal, it does not break the key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = 1
_NONCE = 12
_TAG = 16
_ID = 16
_MIN_RAW = 1 + _NONCE + _ID + _TAG
# A click's URL is at most this long (a longer link is left untracked); a token's length follows.
MAX_URL = 2048
MAX_TOKEN = 4 * ((_MIN_RAW + MAX_URL + 2) // 3) + 4
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
# Whitespace and control characters: never in a URL Herald redirects to (a Location header).
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
PURPOSE = b"herald tracking tokens v1"


class Kind(StrEnum):
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"


_PREFIX = bytes((_VERSION,))
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_AAD = {kind: f"herald:{kind.value}:v{_VERSION}".encode() for kind in Kind}


@dataclass(frozen=True, slots=True)
class Claim:
    """What a valid token says: its delivery, and for a click, where it goes."""

    delivery_id: uuid.UUID
    url: str | None = None


def derive_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret.encode())


class TokenCodec:
    """Seals and opens tracking tokens with one key (built once per process)."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCMSIV(derive_key(secret))
        self._encrypt = self._aead.encrypt

    def seal(self, kind: Kind, delivery_id: uuid.UUID | bytes, url: str | None = None) -> str:
        """`delivery_id` may be given as its 16 bytes (a caller sealing many links for one
        delivery computes them once)."""
        # Called once per link of every tracked email: no wrapper that is not needed.
        did = delivery_id if isinstance(delivery_id, bytes) else delivery_id.bytes
        plain = did if url is None else did + url.encode()
        nonce = os.urandom(_NONCE)
        raw = _PREFIX + nonce + self._encrypt(nonce, plain, _AAD[kind])
        return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")

    def open(self, token: str, kind: Kind) -> Claim | None:
        """The token's claim, or None for anything that is not a token of `kind` sealed with
        this key: forged, truncated, altered, of another kind, or from another deployment."""
        if len(token) > MAX_TOKEN or not _ALPHABET.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < _MIN_RAW or raw[0] != _VERSION:
            return None
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != token.encode("ascii"):
            return None  # a non-canonical spelling (stray bits in the last character)
        nonce = raw[1 : 1 + _NONCE]
        try:
            plain = self._aead.decrypt(nonce, raw[1 + _NONCE :], _AAD[kind])
        except InvalidTag:
            return None
        delivery_id = uuid.UUID(bytes=plain[:_ID])
        if kind is not Kind.CLICK:
            return Claim(delivery_id) if len(plain) == _ID else None
        try:
            url = plain[_ID:].decode()
        except UnicodeDecodeError:
            return None
        return Claim(delivery_id, url) if is_web_url(url) else None


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL without whitespace or control characters: the only kind a
    click may lead to."""
    head = url[:8].lower()
    return (head.startswith("https://") or head.startswith("http://")) and not _UNSAFE.search(url)
