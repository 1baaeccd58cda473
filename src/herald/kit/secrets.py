"""Secrets at rest: app secrets as hashes, provider credentials encrypted.

App secrets are 256-bit random tokens, so a keyed SHA-256 is as strong as a slow KDF would be
and costs microseconds on every authenticated request instead of tens of milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet


def new_secret() -> str:
    """A fresh app secret, shown to its owner once."""
    return secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A public app key: an identifier, not a secret."""
    return "hk_" + secrets.token_hex(10)


def new_end_user_key() -> str:
    """A fresh key for an app to sign its end users' tokens with (HS256 wants 256 bits)."""
    return "hek_" + secrets.token_urlsafe(32)


def hash_secret(secret: str, pepper: str) -> str:
    """The stored form of an app secret."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


class Vault:
    """Symmetric encryption for provider credentials, keyed by the service secret key."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"herald-vault:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()
