"""Vonage SMS API: `POST /sms/json`, form-encoded, credentials in the form.

Vonage answers HTTP 200 even when it refuses a message: the verdict is the per-part
`status` in the body, and only "0" means accepted. Herald's key travels in `client-ref`,
which Vonage echoes in the answer and in every delivery receipt.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, SecretStr

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

# GSM 03.38: the basic table costs one septet per character, the extension table two.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """Whether the text fits the GSM-7 alphabet; anything else must go as UCS-2 ("unicode")."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segment_count(text: str, *, unicode: bool | None = None) -> int:
    """How many SMS parts the text takes: 160/153 GSM-7 septets or 70/67 UCS-2 units."""
    if unicode is None:
        unicode = not is_gsm7(text)
    if unicode:
        units = len(text.encode("utf-16-le")) // 2
        return 1 if units <= 70 else math.ceil(units / 67)
    septets = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
    return 1 if septets <= 160 else math.ceil(septets / 153)


# The send API's non-zero statuses. 1 and 10 are pacing and 5 is Vonage's own fault, so they
# are retried; 7 means the number is barred, so it is retired; the rest refuse this message or
# this account for good.
STATUS_TEXT = {
    "1": "Throttled",
    "2": "Missing Parameters",
    "3": "Invalid Parameters",
    "4": "Invalid Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number Barred",
    "8": "Partner Account Barred",
    "9": "Partner Quota Violation",
    "10": "Too Many Existing Binds",
}
_RETRY = frozenset({"1", "5", "10"})
_DEAD = frozenset({"7"})

# Delivery receipt err-code: 2 absent (temporary), 7 busy, 8 network error are worth a retry;
# 3 absent (permanent), 4 barred by user and 9 "illegal number" (opted out) retire the number.
_DLR_RETRY = frozenset({"2", "7", "8"})
_DLR_DEAD = frozenset({"3", "4", "9"})
_DLR_PENDING = frozenset({"accepted", "buffered"})


# Vonage's "Signing Messages": "md5hash" (the dashboard's default, "MD5 hash") appends the
# secret and hashes; the others are HMACs keyed with the secret.
SignatureMethod = Literal["md5hash", "md5", "sha1", "sha256", "sha512"]
SIGNATURE_MAX_AGE = 300.0  # seconds a signed receipt's timestamp may be off, either way


class VonageConfig(BaseModel):
    base_url: str = "https://rest.nexmo.com"
    api_key: str
    api_secret: SecretStr
    from_: str
    status_callback_url: str | None = None
    timeout: float = 10.0
    # The account's signature secret and method (dashboard, "API settings"): with them set,
    # Vonage signs every delivery receipt and Herald refuses one whose `sig` does not match.
    signature_secret: SecretStr | None = None
    signature_method: SignatureMethod = "md5hash"


def receipt_signature(secret: str, method: SignatureMethod, params: Mapping[str, str]) -> str:
    """Vonage's `sig` over `params` (every field but `sig`, timestamp and nonce included).

    The fields are sorted by name and joined as `&name=value`, each value with `&` and `=`
    replaced by `_`. "md5hash" is MD5 of that text followed by the secret (lowercase hex);
    the HMACs are keyed with the secret (uppercase hex). Comparisons ignore case.
    """
    text = "".join(f"&{k}={v.replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()) if k != "sig")
    if method == "md5hash":
        return hashlib.md5((text + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), text.encode(), method).hexdigest().upper()


def verify_receipt_signature(
    config_or_secret: VonageConfig | SecretStr | str,
    method: SignatureMethod | None,
    params: Mapping[str, str],
    *,
    now: float | None = None,
) -> bool:
    """Whether a delivery receipt was signed with this account's signature secret, recently.

    `method` None means the config's (or Vonage's default). A receipt without `sig`, or whose
    `timestamp` is more than five minutes from now (a replay), is refused. Constant time.
    """
    if isinstance(config_or_secret, VonageConfig):
        if config_or_secret.signature_secret is None:
            return False
        secret = config_or_secret.signature_secret.get_secret_value()
        method = method or config_or_secret.signature_method
    else:
        secret = config_or_secret.get_secret_value() if isinstance(config_or_secret, SecretStr) else config_or_secret
    given = params.get("sig")
    try:
        stamp = float(params.get("timestamp", ""))
    except ValueError:
        return False
    if not given or not secret or abs((time.time() if now is None else now) - stamp) > SIGNATURE_MAX_AGE:
        return False
    expected = receipt_signature(secret, method or "md5hash", params)
    return hmac.compare_digest(given.lower().encode(), expected.lower().encode())


def classify_status(status: str, detail: str | None) -> Outcome:
    """A non-zero send status as an outcome (the window for 1 and 10 is one second)."""
    if status in _DEAD:
        return DeadAddress(status, detail)
    if status in _RETRY:
        return RetryLater(status, detail, 1.0 if status in ("1", "10") else None)
    return PermanentFailure(status, detail)


def receipt_outcome(dlr: Mapping[str, str]) -> Outcome | None:
    """A delivery receipt as an outcome; None for intermediate receipts (accepted, buffered)."""
    status = (dlr.get("status") or "").lower()
    err = dlr.get("err-code") or "0"
    message_id = dlr.get("messageId")
    detail = truncate(f"{status} err-code {err} {message_id}")
    if status in _DLR_PENDING:
        return None
    if status == "delivered":
        return Delivered(message_id, "delivered", detail)
    if err in _DLR_DEAD:
        return DeadAddress(err, detail)
    if err in _DLR_RETRY or status == "expired":
        return RetryLater(err if err != "0" else status, detail)
    return PermanentFailure(err if err != "0" else status or "unknown", detail)


class VonageAdapter:
    name = "vonage"
    channel = Channel.SMS
    collapses_duplicates = False

    def __init__(self, config: VonageConfig, *, egress: Guard | None = None) -> None:
        self.config = config
        self._url = f"{config.base_url.rstrip('/')}/sms/json"
        self._http = HttpClient(timeout=config.timeout, guard=egress)

    def form(self, message: SmsMessage) -> dict[str, str]:
        c = self.config
        form = {
            "api_key": c.api_key,
            "api_secret": c.api_secret.get_secret_value(),
            "from": c.from_,
            "to": message.to.removeprefix("+"),
            "text": message.text,
            "type": "text" if is_gsm7(message.text) else "unicode",
            "client-ref": message.key,
        }
        if c.status_callback_url:
            form["callback"] = c.status_callback_url
        return form

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, SmsMessage)
        answer = await self._http.request("POST", self._url, data=self.form(message))
        if not isinstance(answer, HttpAnswer):
            return answer
        return outcome_of(answer)

    async def close(self) -> None:
        await self._http.close()


def outcome_of(answer: HttpAnswer) -> Outcome:
    """Vonage's answer as an outcome: the first refused part decides, else the first id."""
    detail = truncate(answer.text())
    if answer.status != 200:
        retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
        if answer.status == 429 or answer.status >= 500:
            return RetryLater(str(answer.status), detail, retry_after)
        return PermanentFailure(str(answer.status), detail)
    body = answer.json()
    parts = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(parts, list) or not parts:
        return UnknownOutcome("200", detail)
    for part in parts:
        status = str(part.get("status", "")) if isinstance(part, dict) else ""
        if not status:
            return UnknownOutcome("200", detail)
        if status != "0":
            return classify_status(status, detail)
    return Delivered(str(parts[0].get("message-id")), "0", detail)
