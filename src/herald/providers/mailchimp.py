"""Mailchimp Transactional (formerly Mandrill): `POST /api/1.0/messages/send`, JSON, the API key
IN THE BODY (`{"key": ..., "message": {...}}`), never in a header.

Herald's key goes in `message.metadata.herald_key`: Mailchimp copies metadata into every
webhook event (so a bounce that comes later can be tied to the delivery) and indexes it for
`messages/search` (the lookup before a resend, `lookup`). Opens and clicks are not tracked by
Mailchimp (`track_opens`/`track_clicks` false): Herald tracks engagement itself.

A 200 carries one status per recipient (`sent`, `queued`, `scheduled`, `rejected` with a
`reject_reason`, `invalid`); an error is an HTTP 500 with `{"status": "error", "code", "name",
"message"}`, whose `name` says whether retrying can help.

Webhooks are form POSTs with one field, `mandrill_events` (a JSON array), signed in
`X-Mandrill-Signature` with the webhook's own key: `verify_webhook` checks it and
`webhook_events` parses the array for the callback endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, SecretStr

from herald.kit.channels import Channel
from herald.kit.clock import utcnow
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

KEY_FIELD = "herald_key"
SIGNATURE_HEADER = "X-Mandrill-Signature"
EVENTS_FIELD = "mandrill_events"

ACCEPTED = frozenset({"sent", "queued", "scheduled"})
# Reject reasons that mean Mailchimp will not deliver to this address again.
DEAD_REASONS = frozenset({"hard-bounce", "unsub", "spam", "invalid"})
# The address may take mail later; Mailchimp keeps a soft bounce on its reject list for a while.
TRANSIENT_REASONS = frozenset({"soft-bounce"})
# Error names after which the same request may succeed.
TRANSIENT_ERRORS = frozenset({"ServiceUnavailable", "GeneralError"})
# Search states meaning the message left (or is leaving) Mailchimp for the recipient: a resend
# would be a duplicate. Any other state (rejected, bounced, soft-bounced) reached nobody.
_ON_ITS_WAY = frozenset({"sent", "queued", "scheduled", "deferred"})


class MailchimpConfig(BaseModel):
    base_url: str = "https://mandrillapp.com"
    api_key: SecretStr
    from_email: str
    from_name: str | None = None
    # The key Mailchimp shows for one webhook (not the API key): it signs that webhook's POSTs.
    webhook_key: SecretStr | None = None
    timeout: float = 10.0
    # How far back the lookup before a resend searches; Mailchimp keeps sent messages
    # searchable for 30 days, and a delivery is retried for hours, not days.
    lookup_days: int = 3


@dataclass(frozen=True, slots=True)
class MandrillEvent:
    """One webhook event, reduced to what Herald acts on."""

    event: str  # send, deferral, hard_bounce, soft_bounce, open, click, spam, unsub, reject
    ts: int
    event_id: str | None  # the event's own `_id` (the dedupe value)
    message_id: str | None  # `msg._id`, what the send answered with
    email: str | None
    key: str | None  # `msg.metadata.herald_key`
    state: str | None  # `msg.state`
    url: str | None  # the link clicked (click events)
    bounce_description: str | None
    diag: str | None

    @property
    def outcome(self) -> Outcome | None:
        """What the event means for the delivery; None when it is no verdict (deferral, open)."""
        detail = truncate(" ".join(p for p in (self.event, self.bounce_description, self.diag) if p))
        if self.event == "send":
            return Delivered(self.message_id, "send", detail)
        if self.event in ("hard_bounce", "spam", "unsub"):
            return DeadAddress(self.event, detail)
        if self.event == "soft_bounce":
            return RetryLater(self.event, detail)
        if self.event == "reject":
            return PermanentFailure(self.event, detail)
        return None


def webhook_signature(key: str, url: str, params: Mapping[str, str]) -> str:
    """X-Mandrill-Signature: base64(HMAC-SHA1(webhook key, url + each POST key and value, sorted by key))."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def verify_webhook(key: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    """Whether a webhook POST really came from the webhook holding `key` (constant-time)."""
    if not header:
        return False
    return hmac.compare_digest(webhook_signature(key, url, params).encode(), header.encode())


def webhook_events(raw: str) -> list[MandrillEvent]:
    """The `mandrill_events` field parsed; sync events (reject-list changes) are skipped.

    Raises ValueError, and nothing else, on anything that is not an array of message events.
    """
    try:
        items = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"mandrill_events is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("mandrill_events is not an array")
    events = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"event {n} is not an object")
        if "event" not in item and "type" in item:
            continue  # a sync event (blacklist/whitelist): about the account, not a message
        events.append(_event(n, item))
    return events


def _event(n: int, item: dict[str, Any]) -> MandrillEvent:
    name, ts, msg = item.get("event"), item.get("ts"), item.get("msg")
    msg = {} if msg is None else msg
    if not isinstance(name, str) or not name:
        raise ValueError(f"event {n} has no event name")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise ValueError(f"event {n} has no numeric ts")
    if not isinstance(msg, dict):
        raise ValueError(f"event {n}: msg is not an object")
    metadata = msg.get("metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise ValueError(f"event {n}: msg.metadata is not an object")
    return MandrillEvent(
        event=name,
        ts=int(ts),
        event_id=_text(item.get("_id")),
        message_id=_text(msg.get("_id")),
        email=_text(msg.get("email")),
        key=_text(metadata.get(KEY_FIELD)),
        state=_text(msg.get("state")),
        url=_text(item.get("url")),
        bounce_description=_text(msg.get("bounce_description")),
        diag=_text(msg.get("diag")),
    )


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        raise ValueError(f"expected a scalar, got {type(value).__name__}")
    return str(value)


def recipient_outcome(entry: Mapping[str, Any], detail: str | None) -> Outcome:
    """One entry of the send answer's status array as an outcome."""
    status, reason = str(entry.get("status") or ""), str(entry.get("reject_reason") or "")
    message_id = _text(entry.get("_id"))
    if status in ACCEPTED:
        return Delivered(message_id, status, detail)
    if status == "invalid":
        return DeadAddress("invalid", detail)
    if status == "rejected":
        if reason in DEAD_REASONS:
            return DeadAddress(reason, detail)
        if reason in TRANSIENT_REASONS:
            return RetryLater(reason, detail)
        return PermanentFailure(reason or "rejected", detail)
    return UnknownOutcome(status or "no_status", detail)


def error_outcome(status: int, body: Any, detail: str | None, retry_after: float | None = None) -> Outcome:
    """Mailchimp's error document (or a bare HTTP failure) as an outcome."""
    name = str(body.get("name") or "") if isinstance(body, dict) else ""
    if name in TRANSIENT_ERRORS:
        return RetryLater(name, detail, retry_after)
    if name:
        return PermanentFailure(name, detail)
    if status == 429 or status >= 500:
        return RetryLater(str(status), detail, retry_after)
    return PermanentFailure(str(status), detail)


class MailchimpAdapter:
    name = "mailchimp"
    channel = Channel.EMAIL
    collapses_duplicates = False

    def __init__(self, config: MailchimpConfig, *, egress: Guard | None = None) -> None:
        self.config = config
        base = config.base_url.rstrip("/")
        self._send_url = f"{base}/api/1.0/messages/send"
        self._search_url = f"{base}/api/1.0/messages/search"
        self._headers = {"Content-Type": "application/json"}
        self._http = HttpClient(timeout=config.timeout, guard=egress)

    def payload(self, m: EmailMessage) -> dict[str, Any]:
        c = self.config
        to: dict[str, str] = {"email": m.to, "type": "to"}
        if m.to_name:
            to["name"] = m.to_name
        message: dict[str, Any] = {
            "subject": m.subject,
            "from_email": c.from_email,
            "to": [to],
            "track_opens": False,
            "track_clicks": False,
            "metadata": {KEY_FIELD: m.key},
        }
        if c.from_name:
            message["from_name"] = c.from_name
        if m.html:
            message["html"] = m.html
        if m.text:
            message["text"] = m.text
        if m.category:
            message["tags"] = [m.category]
        if m.headers:  # List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)
            message["headers"] = dict(m.headers)
        return {"key": c.api_key.get_secret_value(), "message": message, "async": False}

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, EmailMessage)
        data = orjson.dumps(self.payload(message))
        answer = await self._http.request("POST", self._send_url, data=data, headers=self._headers)
        if not isinstance(answer, HttpAnswer):
            return answer
        return outcome_of(answer, message.to)

    async def lookup(self, message: OutboundMessage, since: datetime | None = None) -> Outcome | None:
        """Whether Mailchimp already has this delivery: `messages/search` for `u_herald_key:<key>`.

        Delivered when a message with the key is on its way or sent (a resend would reach the
        user twice); None when there is none, or only one that reached nobody (rejected,
        bounced), so a resend is safe; UnknownOutcome when the search itself failed. The key
        must be an indexed custom metadata field of the account (README: Mailchimp).
        """
        assert isinstance(message, EmailMessage)
        today = utcnow()
        start = since or today - timedelta(days=self.config.lookup_days)
        body = {
            "key": self.config.api_key.get_secret_value(),
            "query": f"u_{KEY_FIELD}:{message.key}",
            "date_from": start.strftime("%Y-%m-%d"),
            "date_to": (today + timedelta(days=1)).strftime("%Y-%m-%d"),
            "limit": 100,
        }
        answer = await self._http.request("POST", self._search_url, data=orjson.dumps(body), headers=self._headers)
        if not isinstance(answer, HttpAnswer):
            return UnknownOutcome(f"lookup_{answer.code}", answer.detail)
        found = answer.json()
        if answer.status != 200 or not isinstance(found, list):
            return UnknownOutcome(f"lookup_{answer.status}", truncate(answer.text()))
        for hit in found:
            if not isinstance(hit, dict):
                continue
            metadata = hit.get("metadata")
            same_key = isinstance(metadata, dict) and metadata.get(KEY_FIELD) == message.key
            if same_key and hit.get("state") in _ON_ITS_WAY:
                detail = truncate(f"found by messages/search: {hit.get('state')} {hit.get('_id')}")
                return Delivered(_text(hit.get("_id")), "lookup", detail)
        return None

    async def close(self) -> None:
        await self._http.close()


def outcome_of(answer: HttpAnswer, to: str) -> Outcome:
    """Mailchimp's answer to messages/send for the one recipient `to`, as an outcome."""
    body, detail = answer.json(), truncate(answer.text())
    if answer.status == 200:
        if not isinstance(body, list) or not body or not all(isinstance(e, dict) for e in body):
            return UnknownOutcome("200", detail)
        mine = [e for e in body if str(e.get("email", "")).lower() == to.lower()]
        return recipient_outcome((mine or body)[0], detail)
    return error_outcome(answer.status, body, detail, retry_after_seconds(answer.headers.get("Retry-After")))
