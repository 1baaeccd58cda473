"""SendGrid v3 Mail Send: `POST /v3/mail/send`, JSON, `Authorization: Bearer <API key>`.

Herald's key goes in `custom_args.herald_key`, both per personalization and per message:
SendGrid copies custom args into every Event Webhook event, so bounces and drops that come
later can be tied back to the delivery. A 202 only means "queued"; a dead mailbox shows up
afterwards as a bounce or dropped event, which `event_outcome` maps.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, SecretStr

from herald.kit.channels import Channel
from herald.kit.egress import Guard
from herald.providers.http import HttpAnswer, HttpClient, retry_after_seconds
from herald.providers.messages import EmailMessage, OutboundMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
    truncate,
)

KEY_ARG = "herald_key"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# A 400 naming a recipient's address field means the address itself is unusable.
_RECIPIENT_FIELD = re.compile(r"^personalizations\.\d+\.(to|cc|bcc)\.\d+\.email$")
# Drop reasons that mean SendGrid will never deliver to this address again.
_DEAD_DROPS = frozenset({"Bounced Address", "Invalid", "Unsubscribed Address", "Spam Reporting Address"})


class SendGridConfig(BaseModel):
    base_url: str = "https://api.sendgrid.com"
    api_key: SecretStr
    from_email: str
    from_name: str | None = None
    sandbox_mode: bool = False
    timeout: float = 10.0
    # The Signed Event Webhook's verification key (base64 DER, as SendGrid's settings show
    # it): without one, Herald cannot verify the account's event webhook and refuses it.
    event_webhook_public_key: str | None = None


@dataclass(frozen=True, slots=True)
class SendGridEvent:
    """One Event Webhook event, reduced to what Herald acts on."""

    event: str
    email: str | None
    key: str | None
    message_id: str | None  # the X-Message-Id the send answered with
    outcome: Outcome | None  # None: not a delivery verdict (processed, deferred, open, ...)


def event_outcome(event: Mapping[str, Any]) -> SendGridEvent:
    """What an Event Webhook event means for the delivery it names."""
    name = str(event.get("event", ""))
    sg_id = str(event.get("sg_message_id") or "")
    # sg_message_id is "<X-Message-Id>.<filter suffix>"; the prefix correlates with the send.
    message_id = sg_id.split(".", 1)[0] or None
    reason = truncate(str(event.get("reason") or event.get("response") or name))
    outcome: Outcome | None = None
    if name == "delivered":
        outcome = Delivered(message_id, "delivered", reason)
    elif name == "bounce":
        # "blocked" is the receiving server refusing for now (reputation, policy), not a dead box.
        blocked = event.get("type") == "blocked"
        outcome = RetryLater("blocked", reason) if blocked else DeadAddress("bounce", reason)
    elif name == "dropped":
        dead = event.get("reason") in _DEAD_DROPS
        outcome = DeadAddress("dropped", reason) if dead else PermanentFailure("dropped", reason)
    elif name in ("spamreport", "unsubscribe"):
        outcome = DeadAddress(name, reason)
    key, email = event.get(KEY_ARG), event.get("email")
    return SendGridEvent(name, str(email) if email else None, str(key) if key else None, message_id, outcome)


def verify_event_signature(public_key: str, payload: bytes, signature: str, timestamp: str) -> bool:
    """ECDSA P-256/SHA-256 over timestamp + raw body, as SendGrid's Signed Event Webhook signs.

    `public_key` is the verification key from the SendGrid settings: base64 DER
    (SubjectPublicKeyInfo) without PEM framing, though PEM is accepted too.
    """
    try:
        if "BEGIN PUBLIC KEY" in public_key:
            key = serialization.load_pem_public_key(public_key.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(public_key))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        signed = timestamp.encode() + payload
        key.verify(base64.b64decode(signature), signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error, TypeError):
        return False
    return True


class SendGridAdapter:
    name = "sendgrid"
    channel = Channel.EMAIL
    collapses_duplicates = False

    def __init__(
        self, config: SendGridConfig, *, clock: Callable[[], float] = time.time, egress: Guard | None = None
    ) -> None:
        self.config = config
        self._clock = clock
        self._url = f"{config.base_url.rstrip('/')}/v3/mail/send"
        self._headers = {
            "Authorization": f"Bearer {config.api_key.get_secret_value()}",
            "Content-Type": "application/json",
        }
        self._http = HttpClient(timeout=config.timeout, guard=egress)

    def payload(self, m: EmailMessage) -> dict[str, Any]:
        c = self.config
        to: dict[str, str] = {"email": m.to}
        if m.to_name:
            to["name"] = m.to_name
        sender: dict[str, str] = {"email": c.from_email}
        if c.from_name:
            sender["name"] = c.from_name
        # SendGrid insists on text/plain before text/html.
        content = [{"type": "text/plain", "value": m.text}] if m.text else []
        if m.html:
            content.append({"type": "text/html", "value": m.html})
        body: dict[str, Any] = {
            "personalizations": [{"to": [to], "custom_args": {KEY_ARG: m.key}}],
            "from": sender,
            "subject": m.subject,
            "content": content,
            "custom_args": {KEY_ARG: m.key},
        }
        if m.category:
            body["categories"] = [m.category]
        if m.headers:
            body["headers"] = dict(m.headers)
        if c.sandbox_mode:
            body["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return body

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, EmailMessage)
        data = orjson.dumps(self.payload(message))
        answer = await self._http.request("POST", self._url, data=data, headers=self._headers)
        if not isinstance(answer, HttpAnswer):
            return answer
        return self.outcome_of(answer)

    def outcome_of(self, answer: HttpAnswer) -> Outcome:
        """SendGrid's answer as an outcome."""
        status, detail = answer.status, truncate(answer.text())
        if status in (200, 202):
            # 200 is sandbox mode: validated, never delivered.
            return Delivered(answer.headers.get("X-Message-Id"), str(status), detail)
        if status == 400 and _names_recipient(answer.json()):
            return DeadAddress("400", detail)
        if status == 429:
            return RetryLater("429", detail, self._rate_limit_wait(answer))
        if status >= 500:
            retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
            return RetryLater(str(status), detail, retry_after)
        if 200 <= status < 300:
            return UnknownOutcome(str(status), detail)
        return PermanentFailure(str(status), detail)

    def _rate_limit_wait(self, answer: HttpAnswer) -> float | None:
        """Seconds until X-RateLimit-Reset (a unix time), else Retry-After."""
        reset = answer.headers.get("X-RateLimit-Reset", "")
        if reset.isdigit():
            return max(0.0, int(reset) - self._clock())
        return retry_after_seconds(answer.headers.get("Retry-After"))

    async def close(self) -> None:
        await self._http.close()


def _names_recipient(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, dict) and _RECIPIENT_FIELD.match(str(e.get("field") or "")) for e in errors)
