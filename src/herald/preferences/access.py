"""Who a preference page is for: its short-lived page token, and its form's CSRF token.

Both ways in (a signed link in a message, the app's end-user token) are exchanged for a page
token, and the browser is sent on to `/preferences/{page token}`: the long-lived credential
then sits in no history entry, link or form. A page token is
`base64url(1 | nonce | AES-GCM-SIV(expiry | app id | user id))`, so it names one user of one
app for `LIFETIME`, cannot be altered or forged, and shows no user id (often an email
address) to whoever sees the URL. Its key is derived from the deployment's secret key under
a purpose label of its own.

The form carries `HMAC-SHA256(csrf key, page token)`: a POST without it, or with another
page's, is refused. The page token alone would already be unguessable; the CSRF token keeps
a page's form from being replayed at another page and holds the rule every form keeps.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from herald.apps.tokens import USER_ID_MAX
from herald.kit.errors import Forbidden, NotFound
from herald.tracking.tokens import derive_key, unb64

PURPOSE = b"herald preference pages v1"
CSRF_PURPOSE = b"herald preference page forms v1"
# Long enough to read the page and change a few switches; a URL copied out of the history
# is worth nothing after it.
LIFETIME = timedelta(hours=1)
_VERSION = 1
_NONCE = 12
_AAD = b"herald:preferences-page:v1"
_FIXED = struct.Struct(">q16s")  # expiry (Unix seconds), app id
# A user id is at most 200 characters of up to 4 UTF-8 bytes each.
MAX_TOKEN = 4 * ((1 + _NONCE + _FIXED.size + 4 * USER_ID_MAX + 16 + 2) // 3)


class InvalidPreferencesLink(NotFound):
    """This preference page link is not valid: open the page again from the app or a recent message."""

    code = "invalid_preferences_link"


class PreferencesLinkExpired(InvalidPreferencesLink):
    """This preference page has expired: open it again from the app or a recent message."""

    code = "preferences_link_expired"


class CsrfFailed(Forbidden):
    """The form did not come from this page: reload the page and try again."""

    code = "csrf_failed"


@dataclass(frozen=True, slots=True)
class PageClaim:
    """Whose page it is, and until when."""

    app_id: uuid.UUID
    user_id: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class PageKeys:
    """Seals and opens page tokens, and signs their forms (built once per secret key)."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCMSIV(derive_key(secret, PURPOSE))
        self._csrf_key = derive_key(secret, CSRF_PURPOSE)

    def seal(self, app_id: uuid.UUID, user_id: str, now: datetime) -> str:
        expiry = int((now + LIFETIME).timestamp())
        nonce = os.urandom(_NONCE)
        plain = _FIXED.pack(expiry, app_id.bytes) + user_id.encode()
        return _b64(bytes((_VERSION,)) + nonce + self._aead.encrypt(nonce, plain, _AAD))

    def open(self, token: str, now: datetime) -> PageClaim:
        """The page's claim; InvalidPreferencesLink (PreferencesLinkExpired) otherwise."""
        raw = unb64(token, MAX_TOKEN)
        if raw is None or len(raw) < 1 + _NONCE or raw[0] != _VERSION:
            raise InvalidPreferencesLink(field="token")
        try:
            plain = self._aead.decrypt(raw[1 : 1 + _NONCE], raw[1 + _NONCE :], _AAD)
        except InvalidTag:
            raise InvalidPreferencesLink(field="token") from None
        expiry, app_id = _FIXED.unpack_from(plain)
        expires_at = datetime.fromtimestamp(expiry, UTC)
        if expires_at <= now:
            raise PreferencesLinkExpired(field="token")
        return PageClaim(uuid.UUID(bytes=app_id), plain[_FIXED.size :].decode(), expires_at)

    def csrf(self, token: str) -> str:
        """The CSRF token of the page `token`'s form."""
        return _b64(hmac.digest(self._csrf_key, token.encode(), hashlib.sha256))

    def check_csrf(self, token: str, given: str | None) -> None:
        """Raises CsrfFailed unless `given` is the page's own CSRF token."""
        if not given or not hmac.compare_digest(self.csrf(token).encode(), given.encode()):
            raise CsrfFailed(field="csrf")


@functools.lru_cache(maxsize=4)
def page_keys(secret: str) -> PageKeys:
    """The keys of a deployment's pages: derived once per process, not per request."""
    return PageKeys(secret)
