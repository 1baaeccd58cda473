"""Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded.

Twilio's Messages API has no idempotency field and no free-form caller field. The one slot
that carries a caller value back is the StatusCallback URL, so Herald's key travels there as
`?herald_key=...` when a callback URL is configured. Without one the key reaches Twilio
nowhere: a retry after an unknown outcome may then send the SMS twice, and that residue is
counted by Herald's own attempt rows, not by anything Twilio returns.

30003 and 30006 are asynchronous: they arrive in status callbacks, which `status_outcome`
maps with the same table as the synchronous errors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, SecretStr, model_validator

from herald.kit.channels import Channel
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

    async def close(self) -> None:
        await self._http.close()


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
