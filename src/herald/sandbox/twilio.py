"""The Twilio sandbox: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, as Twilio answers it,
the message fetch `GET .../Messages/{Sid}.json`, and status callbacks.

Basic auth is checked against the account this simulator issued (401 / 20003 otherwise, also
when the path names another account). The form is validated in Twilio's words: 21604 no To,
21211 To not E.164, 21603 no sender, 21606 a From this account does not own, 21701 an unknown
Messaging Service, 21602 no Body, 21617 Body over 1600 characters. A number revoked at run
time answers 21610 (it replied STOP).

`GET .../Messages.json` lists the account's messages as Twilio's list resource does (newest
first, a page of `PageSize`, default 50, with Twilio's paging fields), filtered by `To`, `From`
and `DateSent` / `DateSent<` / `DateSent>` (a GMT date, "on", "on or before", "on or after"),
each in the state a fetch shows. Herald's lookup before a resend uses it.

Injected faults: "20429" (also the throttle draw, with Retry-After), "21211", "21610",
"21612", "21614", "500", "503" answer at once.

What Twilio reports asynchronously is chosen by the destination, or by an injected fault of
the same code: a `To` whose last five digits are 30003 (unreachable handset), 30005 (unknown
destination), 30006 (landline or unreachable carrier) or 30007 (filtered as spam) ends
`undelivered` with that ErrorCode, one ending 30008 (unknown error) ends `failed`. Such a
message is accepted (201) but never reaches the handset, so it is NOT recorded in the inbox.
Every other message ends `delivered`.

With a `StatusCallback`, the status callbacks follow as Twilio posts them: `queued`, `sent`
(not for a failed message), then the final status with its ErrorCode, each a form signed with
`X-Twilio-Signature` over the exact callback URL (query included) and the sorted parameters,
keyed with the auth token. They go through the sandbox's callback dispatcher
(`/_sandbox/twilio/callbacks`: delay, duplicates, reordering, drops). The fetched message
shows its final status at once.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from herald.providers.twilio import TwilioConfig, callback_key, signature
from herald.providers.vonage import segment_count
from herald.sandbox.callbacks import Callback, Dispatcher
from herald.sandbox.faults import Faults
from herald.sandbox.httpauth import basic_credentials
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

API_VERSION = "2010-04-01"
MAX_BODY = 1600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Asynchronous error code -> the final status Twilio reports with it.
ASYNC_FAILURES: dict[str, str] = {
    "30003": "undelivered",
    "30005": "undelivered",
    "30006": "undelivered",
    "30007": "undelivered",
    "30008": "failed",
}
ASYNC_MESSAGES = {
    "30003": "Unreachable destination handset",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered",
    "30008": "Unknown error",
}
_KEPT_MESSAGES = 100_000  # fetchable messages kept, the oldest forgotten first

# code -> (HTTP status, message); "{to}"/"{from_}" are filled from the form.
ERRORS: dict[str, tuple[int, str]] = {
    "20003": (401, "Authenticate"),
    "20404": (404, "The requested resource {path} was not found"),
    "20429": (429, "Too Many Requests"),
    "20500": (500, "An internal server error has occurred"),
    "20503": (503, "Service Unavailable"),
    "21211": (400, "The 'To' number {to} is not a valid phone number."),
    "21602": (400, "Message body is required."),
    "21603": (400, "A 'From' phone number is required."),
    "21604": (400, "A 'To' phone number is required."),
    "21606": (
        400,
        "The From phone number {from_} is not a valid, SMS-capable inbound phone number or "
        "short code for your account.",
    ),
    "21610": (400, "Attempt to send to unsubscribed recipient"),
    "21612": (
        400,
        "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from_} via SMS.",
    ),
    "21614": (400, "'To' number {to} is not a valid mobile number"),
    "21617": (400, "The concatenated message body exceeds the 1600 character limit."),
    "21701": (400, "The Messaging Service does not exist"),
}
_HTTP_FAULTS = {"500": "20500", "503": "20503"}


def error_response(
    code: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None, *, path: str = ""
) -> web.Response:
    """Twilio's error document: {code, message, more_info, status}."""
    status, template = ERRORS[code]
    form = form or {}
    message = template.format(to=form.get("To", ""), from_=form.get("From", ""), path=path)
    body = {
        "code": int(code),
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)


def _date(t: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


class TwilioSimulator:
    name = "twilio"

    def __init__(
        self,
        inbox: Inbox,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_numbers: Iterable[str] = ("+15005550006",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.messaging_service_sid = "MG" + secrets.token_hex(16)
        self.numbers = frozenset(from_numbers)
        self.callbacks = Dispatcher(self.name)
        self.messages: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._clock = clock

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"
        return [
            web.post(f"{base}.json", self._create),
            web.get(f"{base}.json", self._list),
            web.get(f"{base}/{{sid}}.json", self._fetch),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.callbacks.close()

    def adapter_config(self, base_url: str, *, status_callback_url: str | None = None) -> TwilioConfig:
        return TwilioConfig(
            base_url=base_url,
            account_sid=self.account_sid,
            auth_token=SecretStr(self.auth_token),
            from_number=min(self.numbers),
            status_callback_url=status_callback_url,
        )

    def _authorized(self, request: web.Request) -> bool:
        creds = basic_credentials(request.headers.get("Authorization"))
        expected = (self.account_sid, self.auth_token)
        return (
            creds is not None
            and secrets.compare_digest(creds[0], expected[0])
            and secrets.compare_digest(creds[1], expected[1])
            and request.match_info["account_sid"] == self.account_sid
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return error_response("20003", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        await self.faults.delay()
        draw = self.faults.draw()
        if draw.kind == "throttle":
            return error_response("20429", form, {"Retry-After": str(draw.retry_after or 1)})
        problem = self._invalid(form)
        if problem:
            return error_response(problem, form)
        if form["To"] in self.faults.revoked:
            return error_response("21610", form)
        code = draw.code if draw.kind == "error" else None
        if code and code not in ASYNC_FAILURES:
            return error_response(_HTTP_FAULTS.get(code, code if code in ERRORS else "20500"), form)
        code = code or async_failure(form["To"])
        resource = self._resource(form)
        self._keep(resource, code)
        self._call_back(form, resource, code)
        if code:
            return web.json_response(resource, status=201)
        self.inbox.record(
            InboxEntry(
                provider=self.name,
                destination=form["To"],
                message_id=resource["sid"],
                key=callback_key(form.get("StatusCallback", "")),
                collapse_key=None,
                headers={},
                body=form,
            )
        )
        if draw.kind == "drop":
            return await drop_connection(request)
        return web.json_response(resource, status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        """`GET .../Messages/{Sid}.json`: the message as it stands (its final status)."""
        if not self._authorized(request):
            return error_response("20003", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        found = self.messages.get(request.match_info["sid"])
        if found is None:
            return error_response("20404", path=request.path)
        return web.json_response(found)

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error_response("20003", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        q = request.query
        try:
            size = min(max(int(q.get("PageSize", "50")), 1), 1000)
            page = max(int(q.get("Page", "0")), 0)
            on, before, after = (_day(q.get(k)) for k in ("DateSent", "DateSent<", "DateSent>"))
        except ValueError:
            return web.json_response(
                {"code": 20001, "message": "Invalid filter", "more_info": "", "status": 400}, status=400
            )
        found = [
            m
            for m in reversed(self.messages.values())
            if (not q.get("To") or m["to"] == q["To"])
            and (not q.get("From") or m["from"] == q["From"])
            and _sent_within(m["date_sent"], on, before, after)
        ]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        chosen = found[page * size : (page + 1) * size]
        more = len(found) > (page + 1) * size
        return web.json_response(
            {
                "messages": chosen,
                "start": page * size,
                "end": page * size + max(len(chosen) - 1, 0),
                "page": page,
                "page_size": size,
                "uri": f"{base}?PageSize={size}&Page={page}",
                "first_page_uri": f"{base}?PageSize={size}&Page=0",
                "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
                "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}" if page else None,
            }
        )

    def _invalid(self, form: Mapping[str, str]) -> str | None:
        """The error code Twilio would give this form, or None if it is acceptable."""
        if not form.get("To"):
            return "21604"
        if not _E164.match(form["To"]):
            return "21211"
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not sender and not service:
            return "21603"
        if sender and sender not in self.numbers:
            return "21606"
        if service and service != self.messaging_service_sid:
            return "21701"
        body = form.get("Body", "")
        if not body:
            return "21602"
        if len(body) > MAX_BODY:
            return "21617"
        return None

    def _resource(self, form: Mapping[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = _date(self._clock())
        service = form.get("MessagingServiceSid")
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(segment_count(form["Body"])),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # A message sent through a Messaging Service without From waits for a sender.
            "status": "accepted" if service and not form.get("From") else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form["To"],
            "uri": f"{base}.json",
        }

    def _keep(self, resource: dict[str, Any], code: str | None) -> None:
        """The message as a later fetch shows it: already in its final state."""
        now = _date(self._clock())
        final = {
            **resource,
            "status": ASYNC_FAILURES[code] if code else "delivered",
            "error_code": int(code) if code else None,
            "error_message": ASYNC_MESSAGES[code] if code else None,
            "date_updated": now,
            "date_sent": None if code and ASYNC_FAILURES[code] == "failed" else now,
            "price": None if code else f"-{0.0079 * int(resource['num_segments']):.5f}",
        }
        self.messages[resource["sid"]] = final
        if len(self.messages) > _KEPT_MESSAGES:
            self.messages.popitem(last=False)

    def _call_back(self, form: Mapping[str, str], resource: Mapping[str, Any], code: str | None) -> None:
        """queued, sent (unless it failed), then the final status, to the StatusCallback URL."""
        url = form.get("StatusCallback")
        if not url:
            return
        final = ASYNC_FAILURES[code] if code else "delivered"
        statuses = ["queued"] + ([] if final == "failed" else ["sent"]) + [final]
        key = callback_key(url)
        self.callbacks.submit_all(
            Callback(
                url,
                form=self.status_form(form, resource, status, code if status == final else None),
                sign=self._signer,
                key=key,
                event=status,
            )
            for status in statuses
        )

    def status_form(
        self, form: Mapping[str, str], resource: Mapping[str, Any], status: str, error_code: str | None
    ) -> dict[str, str]:
        """The fields of a status callback, as Twilio posts them."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": str(resource["from"] or ""),
            "MessageSid": resource["sid"],
            "MessageStatus": status,
            "SmsSid": resource["sid"],
            "SmsStatus": status,
            "To": form["To"],
        }
        if resource.get("messaging_service_sid"):
            params["MessagingServiceSid"] = str(resource["messaging_service_sid"])
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def _signer(self, callback: Callback) -> Callback:
        """X-Twilio-Signature over the exact URL and the sorted form, keyed with the auth token."""
        sig = signature(self.auth_token, callback.url, callback.form or {})
        return replace(callback, headers={**callback.headers, "X-Twilio-Signature": sig})


def async_failure(to: str) -> str | None:
    """The asynchronous error code a destination draws: its last five digits, if one of them."""
    code = to[-5:]
    return code if code in ASYNC_FAILURES else None


def _day(value: str | None) -> date | None:
    """A DateSent filter value: a GMT date (YYYY-MM-DD), or a full ISO 8601 time (its day)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date() if "T" in value else date.fromisoformat(value)


def _sent_within(date_sent: str | None, on: date | None, before: date | None, after: date | None) -> bool:
    if on is None and before is None and after is None:
        return True
    if not date_sent:
        return False
    day = datetime.strptime(date_sent, "%a, %d %b %Y %H:%M:%S +0000").replace(tzinfo=UTC).date()
    return (on is None or day == on) and (before is None or day <= before) and (after is None or day >= after)
