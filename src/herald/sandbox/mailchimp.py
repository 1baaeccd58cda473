"""The Mailchimp Transactional (Mandrill) sandbox, on the real paths and in Mailchimp's words.

Routes, each under `/api/1.0/` and `/api/1.3/` (the official client's default), with or without
the `.json` suffix, all `POST` with a JSON body: `messages/send`, `messages/search`,
`messages/info`, `users/ping`, `webhooks/add`, `webhooks/list`.

The API key travels in the body (`"key"`); a missing or wrong one answers Mailchimp's error
document, HTTP 500 `{"status": "error", "code": -1, "name": "Invalid_Key", ...}`. A send
without recipients, without `from_email` or without a body is a `ValidationError`.

Which recipients fail, following the other simulators (failing destinations are chosen at run
time, never by magic addresses):
- an address revoked over the control API (`POST /_sandbox/mailchimp/revoke`), or one that
  hard-bounced here before, is on the account's reject list: `rejected` / `hard-bounce`;
- an address that is not an address answers `invalid`;
- the injected fault named after a reject reason (`hard-bounce`, `soft-bounce`, `spam`,
  `unsub`, `custom`, `invalid-sender`, `test-mode-limit`, `unsigned`, `rule`) rejects the
  recipient with that reason, and the fault `invalid` answers `invalid`.

Other injected faults: the error names `Invalid_Key`, `ValidationError`, `PaymentRequired`,
`ServiceUnavailable`, `GeneralError` answer that error document; the throttle draw answers
`ServiceUnavailable` with Retry-After. Faults named after a webhook event act out what
Mailchimp reports later: `hard_bounce` and `soft_bounce` accept the message (`sent`) but it
never reaches the inbox, and the event is posted (a hard bounce also puts the address on the
reject list); `deferral` accepts it as `queued`, posts `deferral`, then `send`;
`spam_complaint` delivers it, posts `send`, then the recipient's complaint (`spam`). Every
accepted message posts `send`, every rejected one `reject`, to each webhook added (`webhooks/add`), through the shared
callback dispatcher (`sandbox/callbacks.py`: delay, duplicates, reordering, drops), as a
form POST of `mandrill_events` signed in `X-Mandrill-Signature` with that webhook's key.

Accepted messages are kept for `messages/search` (the Lucene subset Herald uses: `field:value`
terms joined by AND or spaces, `*`, a trailing wildcard, `u_<metadata field>`, `email`,
`sender`, `subject`, `state`, `tags`; OR and NOT are refused as a ValidationError rather than
answered wrongly) and `messages/info`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from pydantic import SecretStr

from herald.providers.mailchimp import (
    EVENTS_FIELD,
    KEY_FIELD,
    SIGNATURE_HEADER,
    MailchimpConfig,
    webhook_signature,
)
from herald.sandbox.callbacks import Callback, Dispatcher, with_headers
from herald.sandbox.faults import Faults
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

VERSIONS = ("1.0", "1.3")
REJECT_REASONS = frozenset(
    {"hard-bounce", "soft-bounce", "spam", "unsub", "custom", "invalid-sender", "test-mode-limit", "unsigned", "rule"}
)
# Faults acted out after the answer, by webhook ("spam" alone is the reject reason).
ASYNC_FAULTS = frozenset({"hard_bounce", "soft_bounce", "deferral", "spam_complaint"})
# name -> (code, message); codes as Mailchimp's error documents carry them.
ERRORS: dict[str, tuple[int, str]] = {
    "Invalid_Key": (-1, "Invalid API key"),
    "ValidationError": (-2, "Validation error"),
    "GeneralError": (-1, "An unexpected error occurred processing the request"),
    "PaymentRequired": (-1, "This feature is only available for accounts with a positive balance."),
    "ServiceUnavailable": (-1, "The service is temporarily unavailable; try again later"),
    "Unknown_Message": (11, "No message exists with the id"),
}
BOUNCE_DESCRIPTION = "bad_mailbox"
BOUNCE_DIAG = "smtp;550 5.1.1 The email account that you tried to reach does not exist."
_EMAIL = re.compile(r"^[^@\s<>()]+@[^@\s<>()]+\.[^@\s<>().]{2,}$")
_TERM = re.compile(r'(?:(\w+):)?("[^"]*"|\S+)')


def error(name: str, detail: str | None = None, headers: Mapping[str, str] | None = None) -> web.Response:
    """Mailchimp's error document: always HTTP 500, the `name` saying what went wrong."""
    code, message = ERRORS[name]
    body = {"status": "error", "code": code, "name": name, "message": f"{message}{': ' + detail if detail else ''}"}
    return web.json_response(body, status=500, headers=headers)


_KEPT_MESSAGES = 100_000  # messages search and info can find, the oldest forgotten first


class MailchimpSimulator:
    name = "mailchimp"

    def __init__(
        self,
        inbox: Inbox,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.time,
        callbacks: Dispatcher | None = None,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.api_key = api_key or "md-" + secrets.token_urlsafe(16)[:22]
        self.callbacks = callbacks or Dispatcher(self.name)
        self.messages: dict[str, dict[str, Any]] = {}  # _id -> the record search and info return
        self.rejects: set[str] = set()  # addresses on the account's reject list (lowercase)
        self.webhooks: list[dict[str, Any]] = []
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        handlers = {
            "messages/send": self._send,
            "messages/search": self._search,
            "messages/info": self._info,
            "users/ping": self._ping,
            "webhooks/add": self._add_webhook,
            "webhooks/list": self._list_webhooks,
        }
        return [
            web.post(f"/api/{v}/{path}{suffix}", handler)
            for v in VERSIONS
            for path, handler in handlers.items()
            for suffix in ("", ".json")
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.callbacks.close()
        if self._http is not None:
            await self._http.close()

    def adapter_config(self, base_url: str, *, from_email: str = "herald@example.com") -> MailchimpConfig:
        webhook_key = self.webhooks[0]["auth_key"] if self.webhooks else None
        return MailchimpConfig(
            base_url=base_url,
            api_key=SecretStr(self.api_key),
            from_email=from_email,
            from_name="Herald",
            webhook_key=SecretStr(webhook_key) if webhook_key else None,
        )

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The JSON body with a valid key, or Mailchimp's answer refusing it."""
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error("ValidationError", "You must specify a key value")
        if not isinstance(body, dict):
            return error("ValidationError", "You must specify a key value")
        key = body.get("key")
        if not isinstance(key, str) or not secrets.compare_digest(key.encode(), self.api_key.encode()):
            return error("Invalid_Key")
        return body

    async def _ping(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return body if isinstance(body, web.Response) else web.json_response("PONG!")

    async def _send(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        await self.faults.delay()
        draw = self.faults.draw()
        if draw.kind == "throttle":
            return error("ServiceUnavailable", headers={"Retry-After": str(draw.retry_after or 1)})
        message = body.get("message")
        problem = message_error(message)
        if problem:
            return error("ValidationError", problem)
        assert isinstance(message, dict)
        code = draw.code if draw.kind == "error" else None
        if code in ERRORS:
            return error(code)
        scheduled, queued = bool(body.get("send_at")), body.get("async") is True
        answer = [self._recipient(message, r, code, scheduled=scheduled, queued=queued) for r in message["to"]]
        if draw.kind == "drop":
            return await drop_connection(request)
        return web.json_response(answer)

    def _recipient(
        self, message: dict[str, Any], to: dict[str, Any], code: str | None, *, scheduled: bool, queued: bool
    ) -> dict[str, Any]:
        email, message_id = str(to["email"]), secrets.token_hex(16)
        entry: dict[str, Any] = {"email": email, "status": "sent", "_id": message_id, "reject_reason": None}
        if not _EMAIL.match(email) or code == "invalid":
            return {**entry, "status": "invalid"}
        reason = code if code in REJECT_REASONS else None
        if email.lower() in self.rejects or email in self.faults.revoked or email.lower() in self.faults.revoked:
            reason = "hard-bounce"
        record = self._record(message, email, message_id)
        if reason:
            record["state"] = "rejected"
            self._post(record, "reject")
            return {**entry, "status": "rejected", "reject_reason": reason}
        status = "scheduled" if scheduled else "queued" if queued or code == "deferral" else "sent"
        if code in ("hard_bounce", "soft_bounce"):
            record["state"] = "bounced" if code == "hard_bounce" else "soft-bounced"
            record.update(bounce_description=BOUNCE_DESCRIPTION, diag=BOUNCE_DIAG)
            if code == "hard_bounce":
                self.rejects.add(email.lower())
            self._post(record, code)
            return {**entry, "status": status}
        self.inbox.record(
            InboxEntry(
                provider=self.name,
                destination=email,
                message_id=message_id,
                key=_text(record["metadata"].get(KEY_FIELD)),
                collapse_key=None,
                headers={str(k): str(v) for k, v in (message.get("headers") or {}).items()},
                body=message,
            )
        )
        self._post(
            record, "deferral" if code == "deferral" else None, "send", "spam" if code == "spam_complaint" else None
        )
        return {**entry, "status": status}

    def _record(self, message: dict[str, Any], email: str, message_id: str) -> dict[str, Any]:
        """What search and info return for this message (and what webhooks carry as `msg`)."""
        metadata = {str(k): v for k, v in (message.get("metadata") or {}).items()}
        record = {
            "ts": int(self._clock()),
            "_id": message_id,
            "sender": message.get("from_email"),
            "template": None,
            "subject": message.get("subject"),
            "email": email,
            "tags": list(message.get("tags") or []),
            "opens": 0,
            "clicks": 0,
            "state": "sent",
            "metadata": metadata,
            "smtp_events": [],
        }
        self.messages[message_id] = record
        if len(self.messages) > _KEPT_MESSAGES:  # search and info see the newest; a long run stays bounded
            del self.messages[next(iter(self.messages))]
        return record

    def _post(self, record: Mapping[str, Any], *events: str | None) -> None:
        """Each event of this message (in order) to every webhook that asked for it."""
        names = [e for e in events if e]
        for hook in self.webhooks:
            wanted = [e for e in names if not hook["events"] or e in hook["events"]]
            key, url = hook["auth_key"], hook["url"]
            callbacks = [self._callback(url, key, record, e) for e in wanted]
            self.callbacks.submit_all(callbacks)
            hook["batches_sent"] += len(callbacks)
            hook["events_sent"] += len(callbacks)

    def _callback(self, url: str, key: str, record: Mapping[str, Any], event: str) -> Callback:
        ts = int(self._clock())
        payload = [{"event": event, "ts": ts, "_id": secrets.token_hex(16), "msg": {**record, "ts": ts}}]
        form = {EVENTS_FIELD: orjson.dumps(payload).decode()}

        def sign(cb: Callback) -> Mapping[str, str]:
            return {SIGNATURE_HEADER: webhook_signature(key, cb.url, cb.form or {})}

        return Callback(
            url=url, form=form, sign=with_headers(sign), key=_text(record["metadata"].get(KEY_FIELD)), event=event
        )

    async def _search(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        await self.faults.delay()
        draw = self.faults.draw()
        if draw.kind == "throttle":
            return error("ServiceUnavailable", headers={"Retry-After": str(draw.retry_after or 1)})
        if draw.kind == "error" and draw.code in ERRORS:
            return error(draw.code)
        if draw.kind == "drop":
            return await drop_connection(request)
        try:
            terms = parse_query(str(body.get("query") or "*"))
            start, end = self._range(body.get("date_from"), body.get("date_to"))
            limit = min(int(body.get("limit") or 100), 1000)
        except ValueError as exc:
            return error("ValidationError", str(exc))
        tags, senders = set(body.get("tags") or []), set(body.get("senders") or [])
        found = [
            m
            for m in self.messages.values()
            if start <= m["ts"] <= end
            and all(matches(m, f, v) for f, v in terms)
            and (not tags or tags & set(m["tags"]))
            and (not senders or m["sender"] in senders)
        ]
        found.sort(key=lambda m: m["ts"], reverse=True)
        return web.json_response(found[:limit])

    def _range(self, date_from: Any, date_to: Any) -> tuple[float, float]:
        """Search's date range, inclusive; the last 7 days when none is given, as documented."""
        now = self._clock()
        start = _parse_date(date_from) if date_from else now - 7 * 86400
        end = _parse_date(date_to, end_of_day=True) if date_to else now
        return start, end

    async def _info(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        found = self.messages.get(str(body.get("id") or ""))
        if found is None:
            return error("Unknown_Message", repr(body.get("id")))
        return web.json_response(found)

    def configure_webhook(self, url: str) -> dict[str, Any]:
        """A webhook set up ahead (the sandbox stack's, for Herald): the HEAD check is skipped
        because Herald is not listening yet when the stack starts."""
        return self._new_webhook(url, "", [])

    def _new_webhook(self, url: str, description: str, events: list[str]) -> dict[str, Any]:
        hook = {
            "id": len(self.webhooks) + 1,
            "url": url,
            "auth_key": secrets.token_urlsafe(16)[:22],
            "description": description,
            "events": events,
            "created_at": _stamp(self._clock()),
            "last_sent_at": None,
            "batches_sent": 0,
            "events_sent": 0,
            "last_error": None,
        }
        self.webhooks.append(hook)
        return hook

    async def _add_webhook(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return error("ValidationError", "url must be an http or https URL")
        status = await self._head(url)
        if status != 200:
            return error("ValidationError", f"Unable to add webhook: {url} answered HEAD with {status or 'nothing'}")
        events = body.get("events") or []
        listed = [str(e) for e in events] if isinstance(events, list) else []
        return web.json_response(self._new_webhook(url, str(body.get("description") or ""), listed))

    async def _head(self, url: str) -> int | None:
        """Mailchimp checks that a new webhook's URL answers a HEAD with 200 before adding it."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            async with self._http.head(url, allow_redirects=False) as resp:
                return resp.status
        return None

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return body if isinstance(body, web.Response) else web.json_response(self.webhooks)


def message_error(message: Any) -> str | None:
    """What Mailchimp's validation would say of `message`, or None if it is acceptable."""
    if not isinstance(message, dict):
        return "message: Sorry, this field can't be left blank."
    to = message.get("to")
    if not isinstance(to, list) or not to:
        return "message.to: Sorry, this field can't be left blank."
    if not all(isinstance(r, dict) and isinstance(r.get("email"), str) and r["email"] for r in to):
        return "message.to[].email: Sorry, this field can't be left blank."
    if not isinstance(message.get("from_email"), str) or not message["from_email"]:
        return "message.from_email: Sorry, this field can't be left blank."
    if not _EMAIL.match(message["from_email"]):
        return "message.from_email: An email address must contain a single @"
    if not (message.get("html") or message.get("text")):
        return "message: html or text is required"
    metadata = message.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "message.metadata: must be an object"
    return None


def parse_query(query: str) -> list[tuple[str | None, str]]:
    """The `field:value` terms of a search query (AND, or spaces, between them)."""
    terms: list[tuple[str | None, str]] = []
    for field, value in _TERM.findall(query.strip()):
        if not field and value == "AND":
            continue
        if not field and value in ("OR", "NOT"):
            raise ValueError(f"the sandbox does not support {value} in a search query")
        value = value[1:-1] if len(value) > 1 and value.startswith('"') else value
        if value.startswith("*") and value != "*":
            raise ValueError("a search term may not start with a wildcard")
        terms.append((field or None, value))
    return terms


def matches(message: Mapping[str, Any], field: str | None, value: str) -> bool:
    """Whether one term matches: a field's value, or any indexed field for a bare term."""
    if value == "*" and field is None:
        return True
    if field is None:
        fields = [message.get("email"), message.get("sender"), message.get("subject")]
        fields += [str(v) for v in message["metadata"].values()]
    elif field.startswith("u_"):
        fields = [message["metadata"].get(field[2:])]
    elif field == "tags":
        fields = list(message["tags"])
    elif field in ("email", "sender", "subject", "state"):
        fields = [message.get(field)]
    else:
        return False
    pattern = value.lower()
    return any(v is not None and fnmatch.fnmatchcase(str(v).lower(), pattern) for v in fields)


def _parse_date(value: Any, *, end_of_day: bool = False) -> float:
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        with contextlib.suppress(ValueError):
            when = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            if fmt == "%Y-%m-%d" and end_of_day:
                when += timedelta(days=1, seconds=-1)
            return when.timestamp()
    raise ValueError(f"date {text!r} is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
