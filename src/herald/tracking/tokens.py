"""The tokens in tracking URLs: authenticated, and revealing nothing of the delivery.

An open, unsubscribe or preferences token is `base64url(1 | nonce | AES-GCM-SIV(delivery id))`,
with the token's kind (open, click, unsubscribe, preferences) as associated data.

A click token (version 2) is `base64url(2 | nonce | AES-GCM-SIV(delivery id) | mac | URL)`:
the delivery id sealed once per email (associated data: the click kind), and per link a
12-byte keyed BLAKE2b MAC over that sealed part and the URL, the URL itself after it. The
destination is no secret (the recipient sees it when the browser gets there), so it needs
no encryption, only authentication; a seal per link cost several times the MAC. So:

- no delivery id is in clear (a UUIDv7, partly guessable from its time, identifies one
  recipient's email): only the sealed form is in a link, with a fresh nonce per email;
- a token cannot be forged or altered (a changed byte fails the tag or the MAC: the MAC
  covers the sealed delivery id and the URL, so a URL cannot be moved under another email's
  sealed part), nor used as another kind (the kind is authenticated);
- a click leads only to the URL the rendered email contained (it is under the MAC), and
  only to an absolute http(s) one, so no table of links is needed and no open redirect exists.

Version 1 click tokens (the URL sealed with the id, one seal per link) are still opened, so
links in email sent before keep working.

The keys are derived (HKDF-SHA256) from the deployment's secret key under purpose labels of
their own: never the key that seals credentials. Rotating the secret key invalidates the
links in email already sent (they answer 404). AES-GCM-SIV rather than AES-GCM: a nonce
repeated by chance reveals only that two tokens are equal, it does not break the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
_CLICK_VERSION = 2
_NONCE = 12
_TAG = 16
_ID = 16
_MAC = 12
_MIN_RAW = 1 + _NONCE + _ID + _TAG
# A version 2 click token's head: version, nonce, sealed id (45 bytes: a multiple of 3, so its
# base64 ends on a whole group and the MAC's and URL's encodings can follow it as they are).
_HEAD = 1 + _NONCE + _ID + _TAG
_CLICK_MIN_RAW = _HEAD + _MAC + 1
# A click's URL is at most this long (a longer link is left untracked); a token's length follows.
MAX_URL = 2048
MAX_TOKEN = 4 * ((max(_MIN_RAW, _HEAD + _MAC) + MAX_URL + 2) // 3) + 4
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
# Whitespace and control characters: never in a URL Herald redirects to (a Location header).
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
PURPOSE = b"herald tracking tokens v1"
MAC_PURPOSE = b"herald tracking link macs v2"


class Kind(StrEnum):
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    # A link to the user's preference page (herald.preferences.pages), bound like an unsubscribe.
    PREFERENCES = "preferences"


_PREFIX = bytes((_VERSION,))
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_AAD = {kind: f"herald:{kind.value}:v{_VERSION}".encode() for kind in Kind}
_CLICK_AAD = f"herald:{Kind.CLICK.value}:v{_CLICK_VERSION}".encode()
_CLICK_PREFIX = bytes((_CLICK_VERSION,))


@dataclass(frozen=True, slots=True)
class Claim:
    """What a valid token says: its delivery, and for a click, where it goes."""

    delivery_id: uuid.UUID
    url: str | None = None


def derive_key(secret: str, purpose: bytes = PURPOSE) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def unb64(token: str, max_length: int) -> bytes | None:
    """A URL token's bytes (unpadded base64url, at most `max_length` characters), or None for
    anything else, a non-canonical spelling included (stray bits in the last character): one
    spelling per token."""
    if len(token) > max_length or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=") == token.encode("ascii") else None


class ClickSealer:
    """One email's click tokens: its delivery id sealed once, at the first link (an email
    without a tracked link, as many are, pays no seal), then a MAC and the URL per link."""

    __slots__ = ("_codec", "_delivery_id", "_head", "_mac")

    def __init__(self, codec: TokenCodec, delivery_id: bytes) -> None:
        self._codec = codec
        self._delivery_id = delivery_id
        self._head = ""
        self._mac: hashlib.blake2b | None = None

    def __call__(self, url: str) -> str:
        if self._mac is None:
            head = self._codec.click_head(self._delivery_id)
            self._head, self._mac = _b64(head), self._codec._mac(head)
        plain = url.encode()
        mac = self._mac.copy()
        mac.update(plain)
        return self._head + _b64(mac.digest() + plain)


class TokenCodec:
    """Seals and opens tracking tokens with its keys (built once per process)."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCMSIV(derive_key(secret))
        self._encrypt = self._aead.encrypt
        self._mac_key = derive_key(secret, MAC_PURPOSE)

    def _mac(self, head: bytes) -> hashlib.blake2b:
        """The MAC of a click token, fed with its head (what the URL is bound to)."""
        mac = hashlib.blake2b(key=self._mac_key, digest_size=_MAC)
        mac.update(head)
        return mac

    def clicks(self, delivery_id: uuid.UUID | bytes) -> ClickSealer:
        """The click tokens of one email: one seal (at the first), a MAC per link."""
        return ClickSealer(self, delivery_id if isinstance(delivery_id, bytes) else delivery_id.bytes)

    def click_head(self, delivery_id: bytes) -> bytes:
        """A version 2 click token's head: the delivery id sealed, under a fresh nonce."""
        nonce = os.urandom(_NONCE)
        return _CLICK_PREFIX + nonce + self._encrypt(nonce, delivery_id, _CLICK_AAD)

    def seal(self, kind: Kind, delivery_id: uuid.UUID | bytes, url: str | None = None) -> str:
        """One token: a click's (with its URL) is version 2, as `clicks` makes them; a caller
        with many links for one email calls `clicks` once instead."""
        if kind is Kind.CLICK and url is not None:
            return self.clicks(delivery_id)(url)
        return self.seal_v1(kind, delivery_id, url)

    def seal_v1(self, kind: Kind, delivery_id: uuid.UUID | bytes, url: str | None = None) -> str:
        """`base64url(1 | nonce | AES-GCM-SIV(delivery id [| url]))`: open and unsubscribe
        tokens, and the click tokens of email sent before version 2."""
        did = delivery_id if isinstance(delivery_id, bytes) else delivery_id.bytes
        plain = did if url is None else did + url.encode()
        nonce = os.urandom(_NONCE)
        return _b64(_PREFIX + nonce + self._encrypt(nonce, plain, _AAD[kind]))

    def open(self, token: str, kind: Kind) -> Claim | None:
        """The token's claim, or None for anything that is not a token of `kind` sealed with
        this key: forged, truncated, altered, of another kind, or from another deployment."""
        raw = unb64(token, MAX_TOKEN)
        if raw is None:
            return None
        if kind is Kind.CLICK and len(raw) >= _CLICK_MIN_RAW and raw[0] == _CLICK_VERSION:
            return self._open_click(raw)
        if len(raw) < _MIN_RAW or raw[0] != _VERSION:
            return None
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

    def _open_click(self, raw: bytes) -> Claim | None:
        head, tag, plain = raw[:_HEAD], raw[_HEAD : _HEAD + _MAC], raw[_HEAD + _MAC :]
        mac = self._mac(head)
        mac.update(plain)
        if not hmac.compare_digest(mac.digest(), tag):
            return None
        try:
            did = self._aead.decrypt(head[1 : 1 + _NONCE], head[1 + _NONCE :], _CLICK_AAD)
            url = plain.decode()
        except (InvalidTag, UnicodeDecodeError):
            return None
        return Claim(uuid.UUID(bytes=did), url) if is_web_url(url) else None


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL without whitespace or control characters: the only kind a
    click may lead to."""
    head = url[:8].lower()
    return (head.startswith("https://") or head.startswith("http://")) and not _UNSAFE.search(url)
