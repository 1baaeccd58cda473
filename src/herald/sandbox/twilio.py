"""The Twilio sandbox: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, as Twilio answers it.

Basic auth is checked against the account this simulator issued (401 / 20003 otherwise, also
when the path names another account). The form is validated in Twilio's words: 21604 no To,
21211 To not E.164, 21603 no sender, 21606 a From this account does not own, 21701 an unknown
Messaging Service, 21602 no Body, 21617 Body over 1600 characters. A number revoked at run
time answers 21610 (it replied STOP).

`GET .../Messages.json` lists the account's messages as Twilio's list resource does (newest
first, a page of `PageSize`, default 50, with Twilio's paging fields), filtered by `To`, `From`
and `DateSent` / `DateSent<` / `DateSent>` (a GMT date, "on", "on or before", "on or after").
A message that reached the handset is listed as `sent` with its `date_sent`; one that failed
asynchronously as `undelivered` with its error code. Herald's lookup before a resend uses it.

Injected faults: "20429" (also the throttle draw, with Retry-After), "21211", "21610",
"21612", "21614", "500", "503" answer at once. "30003" and "30006" are what Twilio reports
asynchronously: the message is accepted (201) but never reaches the handset, so it is NOT
recorded in the inbox, and a signed status callback (undelivered + ErrorCode) is posted to
the StatusCallback URL if one was given.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from herald.providers.twilio import TwilioConfig, callback_key, signature
from herald.providers.vonage import segment_count
from herald.sandbox.faults import Faults
from herald.sandbox.httpauth import WebhookPoster, basic_credentials
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

API_VERSION = "2010-04-01"
MAX_BODY = 1600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ASYNC_FAULTS = frozenset({"30003", "30006"})

# code -> (HTTP status, message); "{to}"/"{from_}" are filled from the form.
ERRORS: dict[str, tuple[int, str]] = {
    "20003": (401, "Authenticate"),
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
# Messages kept for the list resource; a long chaos run stays bounded.
_KEPT = 100_000


def error_response(
    code: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Twilio's error document: {code, message, more_info, status}."""
    status, template = ERRORS[code]
    form = form or {}
    message = template.format(to=form.get("To", ""), from_=form.get("From", ""))
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
        report_delivered: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.messaging_service_sid = "MG" + secrets.token_hex(16)
        self.numbers = frozenset(from_numbers)
        # Posting a "delivered" callback for every message doubles the HTTP work; off by default.
        self.report_delivered = report_delivered
        self.webhooks = WebhookPoster()
        self.messages: deque[dict[str, Any]] = deque(maxlen=_KEPT)  # as the list resource shows them
        self._clock = clock

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        path = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"
        return [web.post(path, self._create), web.get(path, self._list)]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.webhooks.close()

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
        if code and code not in _ASYNC_FAULTS:
            return error_response(_HTTP_FAULTS.get(code, code if code in ERRORS else "20500"), form)
        resource = self._resource(form)
        if code:
            self._keep(resource, "undelivered", code)
            self._callback(form, resource, "undelivered", code)
            return web.json_response(resource, status=201)
        self._keep(resource, "sent", None)
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
        if self.report_delivered:
            self._callback(form, resource, "delivered", None)
        return web.json_response(resource, status=201)

    def _keep(self, resource: Mapping[str, Any], status: str, error_code: str | None) -> None:
        """The message as the list resource shows it once it has left for the handset."""
        now = _date(self._clock())
        self.messages.append(
            {
                **resource,
                "status": status,
                "date_sent": now,
                "date_updated": now,
                "error_code": int(error_code) if error_code else None,
            }
        )

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
            for m in reversed(self.messages)
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

    def _callback(
        self, form: Mapping[str, str], resource: Mapping[str, Any], status: str, error_code: str | None
    ) -> None:
        url = form.get("StatusCallback")
        if not url:
            return
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
        if error_code:
            params["ErrorCode"] = error_code
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, params)}
        self.webhooks.post(url, data=params, headers=headers)


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
