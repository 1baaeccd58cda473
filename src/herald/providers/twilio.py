"""Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded.

Twilio's Messages API has no idempotency field and no free-form caller field. The one slot
that carries a caller value back is the StatusCallback URL, so Herald's key travels there as
`?herald_key=...` when a callback URL is configured. Without one the key reaches Twilio
nowhere: a retry after an unknown outcome may then send the SMS twice, and that residue is
counted by Herald's own attempt rows, not by anything Twilio returns.

30003 and 30006 are asynchronous: they arrive in status callbacks, which `status_outcome`
maps with the same table as the synchronous errors.

`lookup` (before a resend after an unknown outcome) is a HEURISTIC: Twilio keeps no caller
field on a message, and Herald never learns the sid of a send whose answer was lost, so it
lists this account's messages to the same number sent since the delivery was created
(`To` and `DateSent>`) and takes one with the same Body (and From) as the same message. Two
identical texts to one number within the delivery's retry window are taken as one.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, SecretStr, model_validator

from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.egress import Guard
from herald.providers.http import HttpAnswer, HttpClient, retry_after_seconds
from herald.providers.messages import OutboundMessage, SmsMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
    truncate,
)

KEY_PARAM = "herald_key"

# The destination itself is unusable: 21211 invalid To, 21610 the recipient replied STOP
# (sending again is refused until they opt back in), 30005 unknown handset.
_DEAD = frozenset({"21211", "21610", "30005"})
# Nothing was processed (20429) or the handset/carrier may be reachable later.
_TRANSIENT = frozenset({"20429", "30001", "30003", "30008"})
# Statuses after which Twilio will not report anything final any more.
_DELIVERED_STATUSES = frozenset({"delivered", "read"})
_FAILED_STATUSES = frozenset({"undelivered", "failed"})


class TwilioConfig(BaseModel):
    base_url: str = "https://api.twilio.com"
    account_sid: str
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_url: str | None = None
    timeout: float = 10.0
    # How far back the lookup before a resend lists messages when the delivery's creation
    # time is not known.
    lookup_hours: int = 24

    @model_validator(mode="after")
    def _needs_a_sender(self) -> TwilioConfig:
        if not (self.from_number or self.messaging_service_sid):
            raise ValueError("Twilio needs from_number or messaging_service_sid")
        return self


def classify(status: int, code: str, detail: str | None, retry_after: float | None = None) -> Outcome:
    """A Twilio error code (sync answer or async ErrorCode) as an outcome."""
    if code in _DEAD:
        return DeadAddress(code, detail)
    if code in _TRANSIENT or status == 429 or status >= 500:
        return RetryLater(code, detail, retry_after)
    return PermanentFailure(code, detail)


def status_outcome(form: Mapping[str, str]) -> Outcome | None:
    """A status-callback form as an outcome; None while the message is still on its way."""
    status = form.get("MessageStatus", "")
    sid = form.get("MessageSid")
    if status in _DELIVERED_STATUSES:
        return Delivered(sid, status)
    if status not in _FAILED_STATUSES:
        return None
    code = form.get("ErrorCode") or status
    return classify(0, code, truncate(f"{status} {code} {sid}"))


def callback_key(url: str) -> str | None:
    """Herald's key from the StatusCallback URL Twilio called back."""
    for name, value in parse_qsl(urlsplit(url).query):
        if name == KEY_PARAM:
            return value
    return None


def signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + each name+value sorted by name))."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def verify_signature(auth_token: str, url: str, params: Mapping[str, str], header: str) -> bool:
    """Whether a status callback really came from the account holding `auth_token`."""
    return hmac.compare_digest(signature(auth_token, url, params), header)


def with_key(url: str, key: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != KEY_PARAM]
    query.append((KEY_PARAM, key))
    return urlunsplit(parts._replace(query=urlencode(query)))


class TwilioAdapter:
    name = "twilio"
    channel = Channel.SMS
    collapses_duplicates = False

    def __init__(self, config: TwilioConfig, *, egress: Guard | None = None) -> None:
        self.config = config
        self._url = f"{config.base_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._list_url = self._url
        token = config.auth_token.get_secret_value()
        self._headers = {"Authorization": aiohttp.encode_basic_auth(config.account_sid, token)}
        self._http = HttpClient(timeout=config.timeout, guard=egress)

    def form(self, message: SmsMessage) -> dict[str, str]:
        c = self.config
        form = {"To": message.to, "Body": message.text}
        if c.from_number:
            form["From"] = c.from_number
        if c.messaging_service_sid:
            form["MessagingServiceSid"] = c.messaging_service_sid
        if c.status_callback_url:
            form["StatusCallback"] = with_key(c.status_callback_url, message.key)
        return form

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, SmsMessage)
        form = self.form(message)
        answer = await self._http.request("POST", self._url, data=form, headers=self._headers)
        if not isinstance(answer, HttpAnswer):
            return answer
        return outcome_of(answer)

    async def lookup(self, message: OutboundMessage, since: datetime | None = None) -> Outcome | None:
        """A message to the same number with the same Body (and From), created since `since`:
        Delivered with its sid; None if there is none; UnknownOutcome if the list failed.
        A heuristic: see the module docstring."""
        assert isinstance(message, SmsMessage)
        start = (since or utcnow() - timedelta(hours=self.config.lookup_hours)).replace(microsecond=0)
        params = {"To": message.to, "DateSent>": start.strftime("%Y-%m-%d"), "PageSize": "100"}
        if self.config.from_number:
            params["From"] = self.config.from_number
        answer = await self._http.request("GET", self._list_url, params=params, headers=self._headers)
        if not isinstance(answer, HttpAnswer):
            return UnknownOutcome(f"lookup_{answer.code}", answer.detail)
        body = answer.json()
        listed = body.get("messages") if isinstance(body, dict) else None
        if answer.status != 200 or not isinstance(listed, list):
            return UnknownOutcome(f"lookup_{answer.status}", truncate(answer.text()))
        for m in listed:
            if isinstance(m, dict) and _same_message(m, message, start):
                detail = truncate(f"found in the Messages list: {m.get('status')} {m.get('sid')}")
                return Delivered(str(m.get("sid")), "lookup", detail)
        return None

    async def close(self) -> None:
        await self._http.close()


def _same_message(m: Mapping[str, object], message: SmsMessage, since: datetime) -> bool:
    if m.get("to") != message.to or m.get("body") != message.text or m.get("status") in _FAILED_STATUSES:
        return False
    try:
        created = email.utils.parsedate_to_datetime(str(m.get("date_created")))
    except (TypeError, ValueError):
        return False
    return created >= since


def outcome_of(answer: HttpAnswer) -> Outcome:
    """Twilio's answer to a create-message request as an outcome."""
    body = answer.json()
    data = body if isinstance(body, dict) else {}
    detail = truncate(answer.text())
    if 200 <= answer.status < 300:
        if data.get("sid"):
            return Delivered(str(data["sid"]), str(data.get("status") or answer.status), detail)
        # Accepted, but without a sid nothing ties the message to later callbacks.
        return UnknownOutcome(str(answer.status), detail)
    code = str(data.get("code") or ("20003" if answer.status == 401 else answer.status))
    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    return classify(answer.status, code, detail, retry_after)
