"""What the send path hands an adapter: rendered, addressed, keyed.

`key` is the delivery's idempotency key (32 lowercase hex characters), fixed at creation and
the same on every attempt. Adapters put it in the protocol's own slot where one exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EmailMessage:
    key: str
    to: str
    subject: str
    html: str | None
    text: str | None
    to_name: str | None = None
    category: str | None = None
    # Extra header fields, in order (List-Unsubscribe and List-Unsubscribe-Post, RFC 8058):
    # every email adapter sends them as they are.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SmsMessage:
    key: str
    to: str  # E.164
    text: str
    category: str | None = None


@dataclass(frozen=True, slots=True)
class PushMessage:
    key: str
    platform: str  # ios | android | web
    token: str  # APNs hex token, FCM registration token, or web-push endpoint
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    subscription: dict[str, Any] | None = None  # web push: {"endpoint", "keys": {...}}
    ttl_seconds: int = 86_400
    priority: str = "high"  # high | normal
    category: str | None = None

    @property
    def key_uuid(self) -> str:
        """The key as a lowercase canonical UUID, the form `apns-id` requires."""
        return str(uuid.UUID(hex=self.key))


OutboundMessage = EmailMessage | SmsMessage | PushMessage
