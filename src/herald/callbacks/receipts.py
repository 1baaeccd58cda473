"""What each provider's callback says, as delivery events: verified first, then read.

A receiver turns one verified request into `Incoming` events. It raises `InvalidSignature`
when the request does not carry its provider's valid signature (nothing is recorded), and
`ValueError` when a verified body is not what the provider sends. A receipt that names no
delivery of Herald's, or only says the message is still on its way (queued, sent,
processed, deferred...), yields nothing: it is acknowledged, and the provider stops.

Herald's key comes back in each provider's own slot: the StatusCallback URL's `herald_key`
(Twilio), `client-ref` (Vonage), `custom_args` (SendGrid), `metadata` (Mailchimp).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

import orjson
from pydantic import BaseModel

from herald.events.kinds import HARD, SOFT, EventKind
from herald.events.service import Incoming
from herald.kit.clock import utcnow
from herald.kit.errors import Forbidden
from herald.providers import mailchimp, sendgrid, twilio, vonage
from herald.providers.outcome import DeadAddress


class InvalidSignature(Forbidden):
    """The callback does not carry its provider's valid signature: nothing was recorded."""

    code = "invalid_signature"


@dataclass(frozen=True, slots=True)
class Callback:
    """One request as it arrived: the URL the provider signed (the public one), the body."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]


class Receiver(Protocol):
    def events(self, config: BaseModel, callback: Callback) -> list[Incoming]: ...


def delivery_of(key: object) -> uuid.UUID | None:
    """The delivery a provider-side key names (32 hex characters), if it is one of Herald's."""
    if not isinstance(key, str) or len(key) != 32:
        return None
    try:
        return uuid.UUID(hex=key)
    except ValueError:
        return None


def form_of(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, blank values kept (they are signed too).

    `dict(parse_qsl(text, keep_blank_values=True))`, the same for every input, without its
    argument coercion per field (Twilio posts twenty fields a receipt, thousands a second)."""
    try:
        return _fields(body.decode())
    except UnicodeDecodeError as exc:
        raise ValueError("the form is not UTF-8") from exc


def query_of(query_string: bytes) -> dict[str, str]:
    """A request's query as Starlette reads it (`dict(request.query_params)`: the raw bytes as
    latin-1, escapes as UTF-8, the last of a repeated name), without its multi-dict."""
    return _fields(query_string.decode("latin-1"))


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            fields[unquote(name.replace("+", " "))] = unquote(value.replace("+", " "))
    return fields


# Besides the dead addresses (21211 invalid, 21610 STOP, 30005 unknown): 30006, a landline or
# a carrier that cannot be reached, will not take an SMS on a retry either. A send that
# fails with it is a permanent failure; the number is suppressed once the carrier says so.
_TWILIO_UNREACHABLE = frozenset({"30006"})


class TwilioReceiver:
    """Status callbacks: a form POST per status change, signed with the account's auth token
    (`X-Twilio-Signature`, over the URL with its query and the sorted form fields)."""

    def events(self, config: BaseModel, callback: Callback) -> list[Incoming]:
        assert isinstance(config, twilio.TwilioConfig)
        form = form_of(callback.body)
        header = callback.headers.get("x-twilio-signature", "")
        if not header or not twilio.verify_signature(config.auth_token.get_secret_value(), callback.url, form, header):
            raise InvalidSignature("X-Twilio-Signature is missing or does not match")
        # The key rides in the StatusCallback URL's query: the request's own query.
        delivery = delivery_of(callback.query.get(twilio.KEY_PARAM))
        outcome = twilio.status_outcome(form)
        if delivery is None or outcome is None:
            return []
        status, code, sid = form.get("MessageStatus", ""), form.get("ErrorCode") or None, form.get("MessageSid", "")
        kind = EventKind.DELIVERED if status in ("delivered", "read") else EventKind.UNDELIVERED
        return [
            Incoming(
                delivery,
                kind,
                "twilio",
                utcnow(),
                f"{sid}:{status}:{code or ''}",
                code=code,
                detail=outcome.detail,
                address=form.get("To") or None,
                suppress=isinstance(outcome, DeadAddress) or code in _TWILIO_UNREACHABLE,
            )
        ]


# SendGrid's events as Herald's; processed, deferred and resubscribes say nothing final.
_SENDGRID_KINDS = {
    "delivered": EventKind.DELIVERED,
    "bounce": EventKind.BOUNCED,
    "dropped": EventKind.UNDELIVERED,
    "spamreport": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "group_unsubscribe": EventKind.UNSUBSCRIBED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
}


class SendGridReceiver:
    """The Event Webhook: a JSON array of events, signed with ECDSA P-256 over the
    timestamp header and the raw body, verified with the account's public key."""

    def events(self, config: BaseModel, callback: Callback) -> list[Incoming]:
        assert isinstance(config, sendgrid.SendGridConfig)
        key = config.event_webhook_public_key
        signature = callback.headers.get(sendgrid.SIGNATURE_HEADER.lower(), "")
        timestamp = callback.headers.get(sendgrid.TIMESTAMP_HEADER.lower(), "")
        if not key or not signature or not timestamp:
            raise InvalidSignature("the event webhook's signature is missing, or no verification key is configured")
        if not sendgrid.verify_event_signature(key, callback.body, signature, timestamp):
            raise InvalidSignature("the event webhook's signature does not match")
        batch = orjson.loads(callback.body)
        if not isinstance(batch, list):
            raise ValueError("the event webhook posts a JSON array")
        return [e for raw in batch if isinstance(raw, dict) and (e := _sendgrid_event(raw)) is not None]


def _sendgrid_event(raw: dict[str, Any]) -> Incoming | None:
    name = str(raw.get("event", ""))
    kind = _SENDGRID_KINDS.get(name)
    read = sendgrid.event_outcome(raw)
    delivery = delivery_of(read.key)
    if kind is None or delivery is None:
        return None
    code: str | None = None
    if name == "bounce":
        code = SOFT if raw.get("type") == "blocked" else HARD
    elif name in ("dropped", "group_unsubscribe"):
        code = name if name == "group_unsubscribe" else str(raw.get("reason") or "dropped")[:64]
    stamp = raw.get("timestamp")
    at = datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) and 0 < stamp < 2**33 else utcnow()
    event_id = raw.get("sg_event_id")
    dedupe = str(event_id) if event_id else f"{name}:{stamp}:{raw.get('sg_message_id')}:{raw.get('url')}"
    detail = str(raw.get("url") if name == "click" else raw.get("reason") or raw.get("response") or "") or None
    # A global unsubscribe stops SendGrid sending there again; a group's does not.
    dead = isinstance(read.outcome, DeadAddress) and name != "group_unsubscribe"
    return Incoming(delivery, kind, "sendgrid", at, dedupe, code, detail, read.email, dead)


def _params(callback: Callback) -> dict[str, str]:
    """A Vonage receipt's fields: the query of a GET, or a POST's form or JSON body."""
    if not callback.body:
        return dict(callback.query)
    if callback.headers.get("content-type", "").startswith("application/json"):
        raw = orjson.loads(callback.body)
        if not isinstance(raw, dict):
            raise ValueError("a JSON receipt is an object")
        return {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in raw.items()}
    return form_of(callback.body)


def _vonage_time(text: str | None) -> datetime:
    """`message-timestamp` is "YYYY-MM-DD HH:MM:SS" in UTC."""
    try:
        return datetime.strptime(text or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return utcnow()


class VonageReceiver:
    """Delivery receipts: one per message part, as a GET or a POST (form or JSON), signed
    with the account's signature secret (`sig`, over the sorted fields) when signing is on.
    Herald takes signed receipts only: an account without a signature secret is refused."""

    def events(self, config: BaseModel, callback: Callback) -> list[Incoming]:
        assert isinstance(config, vonage.VonageConfig)
        params = _params(callback)
        if not vonage.verify_receipt_signature(config, None, params):
            raise InvalidSignature("the receipt's sig is missing, stale or does not match the signature secret")
        delivery = delivery_of(params.get("client-ref"))
        outcome = vonage.receipt_outcome(params)
        status = (params.get("status") or "").lower()
        if delivery is None or outcome is None or status == "unknown":
            return []
        err = params.get("err-code") or "0"
        kind = EventKind.DELIVERED if status == "delivered" else EventKind.UNDELIVERED
        msisdn = params.get("msisdn") or ""
        return [
            Incoming(
                delivery,
                kind,
                "vonage",
                _vonage_time(params.get("message-timestamp")),
                f"{params.get('messageId')}:{status}:{err}",
                code=None if kind == EventKind.DELIVERED else (err if err != "0" else status),
                detail=outcome.detail,
                # Vonage writes numbers without the plus; Herald stores E.164.
                address=f"+{msisdn}" if msisdn.isdigit() else msisdn or None,
                suppress=isinstance(outcome, DeadAddress),
            )
        ]


# Mailchimp's events as Herald's; a deferral says nothing final. `send` is Mailchimp's word
# for the receiving server having taken the message: the nearest it comes to delivered.
_MAILCHIMP_KINDS = {
    "send": EventKind.DELIVERED,
    "hard_bounce": EventKind.BOUNCED,
    "soft_bounce": EventKind.BOUNCED,
    "spam": EventKind.COMPLAINED,
    "unsub": EventKind.UNSUBSCRIBED,
    "reject": EventKind.UNDELIVERED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
}


class MailchimpReceiver:
    """Webhooks: a form POST whose `mandrill_events` field is a JSON array, signed with the
    webhook's key (`X-Mandrill-Signature`, over the URL and the sorted form fields)."""

    def events(self, config: BaseModel, callback: Callback) -> list[Incoming]:
        assert isinstance(config, mailchimp.MailchimpConfig)
        form = form_of(callback.body)
        key = config.webhook_key.get_secret_value() if config.webhook_key else ""
        header = callback.headers.get("x-mandrill-signature")
        if not key or not mailchimp.verify_webhook(key, callback.url, form, header):
            raise InvalidSignature("X-Mandrill-Signature is missing or does not match the webhook's key")
        out = []
        for e in mailchimp.webhook_events(form.get("mandrill_events", "")):
            kind, delivery = _MAILCHIMP_KINDS.get(e.event), delivery_of(e.key)
            if kind is None or delivery is None:
                continue
            code = HARD if e.event == "hard_bounce" else SOFT if e.event == "soft_bounce" else None
            at = datetime.fromtimestamp(e.ts, UTC) if 0 < e.ts < 2**33 else utcnow()
            dedupe = e.event_id or f"{e.event}:{e.ts}:{e.message_id}:{e.url}"
            detail = e.url if e.event == "click" else " ".join(p for p in (e.bounce_description, e.diag) if p) or None
            dead = e.event in ("hard_bounce", "spam", "unsub")
            out.append(Incoming(delivery, kind, "mailchimp", at, dedupe, code, detail, e.email, dead))
        return out


RECEIVERS: dict[str, Receiver] = {
    "mailchimp": MailchimpReceiver(),
    "twilio": TwilioReceiver(),
    "vonage": VonageReceiver(),
    "sendgrid": SendGridReceiver(),
}
