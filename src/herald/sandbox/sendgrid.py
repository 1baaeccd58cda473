"""The SendGrid sandbox: `POST /v3/mail/send` and `GET /v3/suppression/bounces`, as SendGrid answers.

The Bearer token must be the API key this simulator issued (401 otherwise). Bodies over 30 MB
answer 413; the JSON is validated in SendGrid's words and every problem is listed in one 400
`{"errors": [{"field", "message", "help"}]}`. `mail_settings.sandbox_mode` answers 200 and
delivers nothing, as SendGrid documents.

Every recipient of an accepted send gets the events SendGrid reports, kept in `events` and
posted through the Event Webhook: `processed`, then `delivered`, or as its address decides:

- revoked at run time, or a local part starting `bounce`: `bounce` (type bounce, 5.1.1); the
  address goes on the bounce list (the real `GET /v3/suppression/bounces`), and later sends to
  it are `dropped` / "Bounced Address" with no `processed`;
- a local part starting `blocked`: `bounce` with type `blocked` (5.7.1, not listed);
- starting `deferred`: `deferred` (4.2.2), then `delivered`;
- starting `unsubscribed`: `dropped` / "Unsubscribed Address"; starting `dropped`: `dropped` /
  "Invalid SMTPAPI header".

Only delivered mail reaches the inbox. Events carry `email`, `timestamp`, `event`,
`sg_event_id`, `sg_message_id` ("<X-Message-Id>.filterdrecv-sandbox-<n>"), `smtp-id` and the
send's `custom_args` as top-level keys.

The Event Webhook is configured through SendGrid's settings API: `PATCH/GET
/v3/user/webhooks/event/settings` (`enabled`, `url` and one toggle per event type) and
`PATCH/GET /v3/user/webhooks/event/settings/signed` (`{"enabled": true}` answers the base64
DER `public_key`). Events are batched (what gathers over the callback settings' batch window,
at most `batch_max` each), each batch a JSON array signed with ECDSA P-256/SHA-256 over
timestamp + body in `X-Twilio-Email-Event-Webhook-Signature`/`-Timestamp`, and posted through
the callback dispatcher (`/_sandbox/sendgrid/callbacks`).

Injected faults: "400", "401", "403", "413", "429" (also the throttle draw, with the
X-RateLimit-* headers), "500", "503".
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, SecretStr

from herald.providers.sendgrid import KEY_ARG, SIGNATURE_HEADER, TIMESTAMP_HEADER, SendGridConfig
from herald.sandbox.callbacks import Batcher, Callback, Dispatcher
from herald.sandbox.faults import Faults
from herald.sandbox.httpauth import bearer_token
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

MAX_BODY = 30 * 1024 * 1024
RATE_LIMIT = 600  # shown in X-RateLimit-Limit; SendGrid publishes no fixed number
BOUNCE_REASON = "550 5.1.1 The email account that you tried to reach does not exist."
_HTTP_FAULTS = {
    "400": "Bad Request",
    "403": "access forbidden",
    "413": "The request body exceeds the 30 MB size limit",
    "500": "internal error",
    "503": "service unavailable",
}
_BAD_KEY = "The provided authorization grant is invalid, expired, or revoked"
BLOCK_REASON = "550 5.7.1 Message rejected due to local policy"
DEFER_RESPONSE = "451 4.2.2 Mailbox full, try again later"
_EVENT_TOGGLES = {"processed", "delivered", "deferred", "bounce", "dropped"}


_KEPT_EVENTS = 10_000  # events kept for inspection, the oldest forgotten first


class EventWebhookSettings(BaseModel):
    """SendGrid's Event Webhook settings, as `GET /v3/user/webhooks/event/settings` shows them."""

    enabled: bool = False
    url: str = ""
    group_resubscribe: bool = False
    delivered: bool = False
    group_unsubscribe: bool = False
    spam_report: bool = False
    bounce: bool = False
    deferred: bool = False
    unsubscribe: bool = False
    processed: bool = False
    open: bool = False
    click: bool = False
    dropped: bool = False
    oauth_client_id: str = ""
    oauth_token_url: str = ""

    def wants(self, event: str) -> bool:
        return bool(getattr(self, event, False)) if event in _EVENT_TOGGLES else False


def errors(status: int, *items: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"errors": list(items)}, status=status, headers=headers)


def error(message: str) -> dict[str, Any]:
    return {"field": None, "message": message, "help": None}


class SendGridSimulator:
    name = "sendgrid"

    def __init__(
        self,
        inbox: Inbox,
        *,
        api_key: str | None = None,
        event_webhook_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.api_key = api_key or f"SG.{secrets.token_urlsafe(16)[:22]}.{secrets.token_urlsafe(32)[:43]}"
        # A URL given here is an enabled, signed webhook with every event on.
        on = dict.fromkeys(_EVENT_TOGGLES, True)
        self.webhook = (
            EventWebhookSettings(enabled=True, url=event_webhook_url, **on)
            if event_webhook_url
            else EventWebhookSettings()
        )
        self.signed = event_webhook_url is not None
        # The newest events, for inspection (bounded: a long run must not grow the sandbox).
        self.events: deque[dict[str, Any]] = deque(maxlen=_KEPT_EVENTS)
        self.bounces: dict[str, dict[str, Any]] = {}
        self.callbacks = Dispatcher(self.name)
        self._batches: Batcher[dict[str, Any]] = Batcher(self.callbacks, self._batch)
        self._clock = clock
        self._signing_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def webhook_public_key(self) -> str:
        """The Event Webhook verification key, base64 DER as SendGrid's settings show it."""
        der = self._signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        return [
            web.post("/v3/mail/send", self._send),
            web.get("/v3/suppression/bounces", self._list_bounces),
            web.get("/v3/user/webhooks/event/settings", self._get_webhook),
            web.patch("/v3/user/webhooks/event/settings", self._patch_webhook),
            web.get("/v3/user/webhooks/event/settings/signed", self._get_signed),
            web.patch("/v3/user/webhooks/event/settings/signed", self._patch_signed),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.callbacks.close()

    def adapter_config(self, base_url: str, *, from_email: str = "herald@example.com") -> SendGridConfig:
        return SendGridConfig(
            base_url=base_url,
            api_key=SecretStr(self.api_key),
            from_email=from_email,
            from_name="Herald",
            event_webhook_public_key=self.webhook_public_key if self.signed else None,
        )

    async def _get_webhook(self, request: web.Request) -> web.Response:
        return self._authorized(request) or web.json_response(self.webhook.model_dump())

    async def _patch_webhook(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("an object is expected")
            self.webhook = EventWebhookSettings.model_validate({**self.webhook.model_dump(), **changes})
        except ValueError as e:
            return errors(400, invalid(None, str(e)[:200], "event_webhook"))
        return web.json_response(self.webhook.model_dump())

    async def _get_signed(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        return refused or web.json_response({"public_key": self.webhook_public_key if self.signed else ""})

    async def _patch_signed(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            return errors(400, invalid("enabled", "enabled must be a boolean", "event_webhook"))
        self.signed = body["enabled"]
        return web.json_response({"public_key": self.webhook_public_key if self.signed else ""})

    def sign(self, payload: bytes, timestamp: str) -> str:
        """What SendGrid puts in X-Twilio-Email-Event-Webhook-Signature."""
        der = self._signing_key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(der).decode()

    def _authorized(self, request: web.Request) -> web.Response | None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return errors(401, error("authorization required"))
        if not secrets.compare_digest(token, self.api_key):
            return errors(401, error(_BAD_KEY))
        return None

    def _throttle(self, retry_after: int) -> web.Response:
        headers = {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(self._clock()) + retry_after),
        }
        return errors(429, error("too many requests"), headers=headers)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        refused = self._authorized(request)
        if refused:
            return refused
        raw = await _read_within_limit(request)
        if raw is None:
            return errors(413, error(_HTTP_FAULTS["413"]))
        await self.faults.delay()
        draw = self.faults.draw()
        if draw.kind == "throttle":
            return self._throttle(draw.retry_after or 1)
        try:
            mail = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return errors(400, error("Bad Request"))
        problems = mail_errors(mail)
        if problems:
            return errors(400, *problems)
        if draw.kind == "error":
            return self._fault(draw.code or "500")
        if sandbox_mode(mail) is True:
            return web.Response(status=200)
        message_id = secrets.token_urlsafe(16)[:22]
        self._deliver(mail, message_id)
        if draw.kind == "drop":
            return await drop_connection(request)
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    def _fault(self, code: str) -> web.Response:
        if code == "401":
            return errors(401, error(_BAD_KEY))
        if code == "429":
            return self._throttle(1)
        status = int(code) if code in _HTTP_FAULTS else 500
        return errors(status, error(_HTTP_FAULTS.get(code, "internal error")))

    def _deliver(self, mail: dict[str, Any], message_id: str) -> None:
        """Each recipient's fate (see the module's list); only delivered mail is in the inbox."""
        for n, (email, args) in enumerate(recipients(mail)):
            base = {
                **args,
                "email": email,
                "smtp-id": f"<{message_id}@sandbox.sendgrid.net>",
                "sg_message_id": f"{message_id}.filterdrecv-sandbox-{n}",
            }
            steps = self._fate(email, base)
            # Without an enabled webhook nothing is posted: no batching, no timers per event.
            posting = self.webhook.enabled and bool(self.webhook.url)
            for step, event in enumerate(steps):
                self.events.append(event)
                if posting:
                    self._batches.add(event, step)
            if steps[-1]["event"] != "delivered":
                continue
            self.inbox.record(
                InboxEntry(
                    provider=self.name,
                    destination=email,
                    message_id=message_id,
                    key=args.get(KEY_ARG),
                    collapse_key=None,
                    headers={"X-Message-Id": message_id},
                    body=mail,
                )
            )

    def _event(self, base: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
        return {
            **base,
            "event": name,
            "timestamp": int(self._clock()),
            "sg_event_id": secrets.token_urlsafe(16),
            **fields,
        }

    def _fate(self, email: str, base: dict[str, Any]) -> list[dict[str, Any]]:
        local = email.split("@", 1)[0].lower()
        if email in self.bounces:
            return [self._event(base, "dropped", reason="Bounced Address", status="5.0.0")]
        if local.startswith("unsubscribed"):
            return [self._event(base, "dropped", reason="Unsubscribed Address", status="5.0.0")]
        if local.startswith("dropped"):
            return [self._event(base, "dropped", reason="Invalid SMTPAPI header", status="5.0.0")]
        processed = self._event(base, "processed")
        if email in self.faults.revoked or email.lower() in self.faults.revoked or local.startswith("bounce"):
            now = int(self._clock())
            self.bounces[email] = {"created": now, "email": email, "reason": BOUNCE_REASON, "status": "5.1.1"}
            return [processed, self._event(base, "bounce", type="bounce", reason=BOUNCE_REASON, status="5.1.1")]
        if local.startswith("blocked"):
            return [processed, self._event(base, "bounce", type="blocked", reason=BLOCK_REASON, status="5.7.1")]
        delivered = self._event(base, "delivered", response="250 OK", ip="127.0.0.1", tls=1)
        if local.startswith("deferred"):
            deferred = self._event(base, "deferred", response=DEFER_RESPONSE, attempt="1")
            return [processed, deferred, delivered]
        return [processed, delivered]

    def _batch(self, events: list[dict[str, Any]]) -> Callback | None:
        """One Event Webhook POST: the events the settings ask for, signed if signing is on."""
        hook = self.webhook
        chosen = [e for e in events if hook.wants(e["event"])]
        if not (hook.enabled and hook.url and chosen):
            return None
        body = orjson.dumps(chosen)
        keys = {str(e[KEY_ARG]) for e in chosen if e.get(KEY_ARG)}
        key = keys.pop() if len(keys) == 1 else None
        sign = self._sign_batch if self.signed else None
        headers = {"Content-Type": "application/json"}
        return Callback(hook.url, body=body, headers=headers, sign=sign, key=key, event="batch")

    def _sign_batch(self, callback: Callback) -> Callback:
        timestamp = str(int(self._clock()))
        signature = self.sign(callback.body or b"", timestamp)
        return replace(callback, headers={**callback.headers, SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp})

    async def _list_bounces(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused:
            return refused
        return web.json_response(list(self.bounces.values()))


async def _read_within_limit(request: web.Request) -> bytes | None:
    """The body, or None when it exceeds SendGrid's 30 MB (drained, not buffered)."""
    if (request.content_length or 0) <= MAX_BODY:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None
        return raw if len(raw) <= MAX_BODY else None
    # An unread body would hold the connection open, so it is read and discarded.
    async for _ in request.content.iter_any():
        pass
    return None


# SendGrid's own validation, in its words. Kept to what the real endpoint checks cheaply.
_EMAIL = re.compile(r"^[^@\s<>()]+@[^@\s<>()]+\.[^@\s<>().]{2,}$")
_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."
_NEED_FROM = (
    "The from object must be provided for every email send. It is an object that requires the "
    'email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
_NEED_SUBJECT = (
    "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined."
)
_NEED_CONTENT = (
    "Unless a valid template_id is provided, the content parameter is required. There must be "
    "at least one defined content block. We typically suggest both text/plain and text/html "
    "blocks are included, but only one block is required."
)
_NEED_TO = (
    "The to array is required for all personalization objects, and must have at least one "
    "email object with a valid email address."
)
_ORDER = "If present, text/plain must be first, followed by text/html, followed by any other content."


def invalid(field: str | None, message: str, anchor: str) -> dict[str, Any]:
    return {"field": field, "message": message, "help": _HELP + anchor}


def is_email(value: object) -> bool:
    return isinstance(value, str) and _EMAIL.match(value) is not None


def mail_errors(mail: Any) -> list[dict[str, Any]]:
    """Every validation problem SendGrid would list for this body; empty if it is acceptable."""
    if not isinstance(mail, dict):
        return [error("Bad Request")]
    problems = _personalization_errors(mail.get("personalizations"))
    sender = mail.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        problems.append(invalid("from.email", _NEED_FROM, "from"))
    elif not is_email(sender["email"]):
        problems.append(invalid("from.email", "The from email does not contain a valid address.", "from"))
    if sandbox_mode(mail) not in (None, True, False):
        message = "The sandbox mode enable param should be a boolean value."
        problems.append(invalid("mail_settings.sandbox_mode.enable", message, "mail_settings"))
    if mail.get("template_id"):
        return problems
    per = mail.get("personalizations") if isinstance(mail.get("personalizations"), list) else []
    if not mail.get("subject") and not (per and all(isinstance(p, dict) and p.get("subject") for p in per)):
        problems.append(invalid("subject", _NEED_SUBJECT, "subject"))
    return problems + _content_errors(mail.get("content"))


def sandbox_mode(mail: dict[str, Any]) -> Any:
    """`mail_settings.sandbox_mode.enable` as sent (None when absent)."""
    settings = mail.get("mail_settings")
    mode = settings.get("sandbox_mode") if isinstance(settings, dict) else None
    return mode.get("enable") if isinstance(mode, dict) else None


def _personalization_errors(ps: Any) -> list[dict[str, Any]]:
    if not isinstance(ps, list) or not ps:
        return [invalid("personalizations", "You must have at least one personalization.", "personalizations")]
    if len(ps) > 1000:
        message = (
            "The personalization block is limited to 1000 personalizations per API request. You "
            f"have provided {len(ps)} personalizations. Please consider splitting this into "
            "multiple requests and resending your request."
        )
        return [invalid("personalizations", message, "personalizations")]
    problems: list[dict[str, Any]] = []
    total = 0
    for i, p in enumerate(ps):
        p = p if isinstance(p, dict) else {}
        if not isinstance(p.get("to"), list) or not p["to"]:
            problems.append(invalid(f"personalizations.{i}.to", _NEED_TO, "personalizations.to"))
            continue
        for kind in ("to", "cc", "bcc"):
            addresses = p.get(kind) or []
            total += len(addresses)
            problems += [
                invalid(
                    f"personalizations.{i}.{kind}.{j}.email",
                    "Does not contain a valid address.",
                    f"personalizations.{kind}",
                )
                for j, a in enumerate(addresses)
                if not is_email(a.get("email") if isinstance(a, dict) else None)
            ]
    if total > 1000:
        message = "There is a limit of 1000 total recipients (to + cc + bcc) per request."
        problems.append(invalid("personalizations", message, "personalizations"))
    return problems


def _content_errors(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not content:
        return [invalid("content", _NEED_CONTENT, "content")]
    problems = [
        invalid(
            f"content.{i}.value",
            "The content value must be a string at least one character in length.",
            "content.value",
        )
        for i, c in enumerate(content)
        if not (isinstance(c, dict) and isinstance(c.get("value"), str) and c["value"])
    ]
    types = [c.get("type") if isinstance(c, dict) else None for c in content]
    plain_late = "text/plain" in types and types.index("text/plain") != 0
    html_late = "text/html" in types and any(t != "text/plain" for t in types[: types.index("text/html")])
    if plain_late or html_late:
        problems.append(invalid("content", _ORDER, "content"))
    if types.count("text/plain") > 1 or types.count("text/html") > 1:
        message = "If present, text/plain and text/html may only be provided once."
        problems.append(invalid("content", message, "content"))
    return problems


def recipients(mail: dict[str, Any]) -> Iterable[tuple[str, dict[str, str]]]:
    """Each (address, custom args) of a valid body; personalization args override the message's."""
    base = {k: str(v) for k, v in (mail.get("custom_args") or {}).items()}
    for p in mail["personalizations"]:
        args = {**base, **{k: str(v) for k, v in (p.get("custom_args") or {}).items()}}
        for kind in ("to", "cc", "bcc"):
            for address in p.get(kind) or []:
                yield address["email"], args
