"""Standard Webhooks signatures: a `whsec_` secret per endpoint, and the three headers.

Signing is the `standardwebhooks` package's own, so what Herald sends is what its `verify`
(and every other implementation of the spec) accepts. During a secret's rotation overlap
each message carries two signatures, space-separated as the spec allows, and a receiver
holding either secret verifies it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from standardwebhooks import Webhook

PREFIX = "whsec_"
# The spec asks for 24 to 64 random bytes; 32 is what HMAC-SHA256 can use in full.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret, shown to the app once."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def headers(message_id: str, at: datetime, body: bytes, secrets_: Sequence[str]) -> dict[str, str]:
    """The headers of one attempt: id, timestamp and a signature per secret, newest first."""
    signature = " ".join(_signer(s).sign(message_id, at, body) for s in secrets_)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
