"""The Vonage sandbox: `POST /sms/json`, answering HTTP 200 with a per-part status, as Vonage does.

Credentials come from the `api_key`/`api_secret` fields (or Basic auth): missing ones answer
status 2, wrong ones status 4 "Bad Credentials". Missing from/to/text answer 2, a `to` that
is not E.164 digits (or an unknown `type`, or a `client-ref` over 100 chars) answers 3, and a
number revoked at run time answers 7 "Number Barred". Each key may make 30 requests per
second; beyond that the answer is status 1 "Throttled" (the throttle draw answers the same).

Injected faults "1".."10" answer that status; "500" answers HTTP 500. A long text is split
into parts like Vonage does: one `messages` entry per part, one inbox entry per request.

Delivery receipts go to the request's `callback`, else to the account's `dr-callback-url`
(set with Vonage's real `POST /account/settings` `drCallBackUrl`, or
`PUT /_sandbox/vonage/accounts/{api_key}`), one per part as Vonage sends them: `accepted`
(or `buffered`), then the final status. The final status is chosen by the destination: a
`to` whose last five digits are `990` + an err-code below ends that way, any other is
`delivered` (err-code 0); an injected fault `dlr-<err-code>` (e.g. "dlr-3") does the same at
random. A message that is not delivered never reaches the inbox.

    99002 expired  (2 absent subscriber, temporary; buffered first)
    99003 failed   (3 absent subscriber, permanent)    99004 failed (4 barred by the user)
    99006 rejected (6 anti-spam)                       99007 failed (7 handset busy)
    99008 failed   (8 network error)                   99009 rejected (9 illegal number)
    99011 rejected (11 unroutable)                     99099 failed (99 general error)

The account's webhook method is an account setting (`http_method`: "POST" form, "POST-JSON"
or "GET"). With a signature secret set (`signature_secret`, `signature_method` on the same
control route; "md5hash" is Vonage's default) every receipt carries `timestamp`, `nonce` and
`sig` as Vonage's "Signing Messages" describes (herald.providers.vonage.receipt_signature).
Receipts go through the callback dispatcher (`/_sandbox/vonage/callbacks`).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, SecretStr

from herald.providers.vonage import (
    STATUS_TEXT,
    SignatureMethod,
    VonageConfig,
    receipt_signature,
    segment_count,
)
from herald.sandbox.callbacks import Callback, Dispatcher
from herald.sandbox.faults import Faults
from herald.sandbox.httpauth import basic_credentials
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

RATE_LIMIT = 30  # requests per second per API key, Vonage's documented default
_MSISDN = re.compile(r"^[1-9]\d{6,14}$")
_TYPES = frozenset({"text", "unicode", "binary", "wappush", "vcal", "vcard"})
_PRICE = "0.03330000"
_NETWORK = "23410"

# err-code -> the final receipt status that carries it (see the module's table).
RECEIPT_FAILURES: dict[str, str] = {
    "2": "expired",
    "3": "failed",
    "4": "failed",
    "6": "rejected",
    "7": "failed",
    "8": "failed",
    "9": "rejected",
    "11": "rejected",
    "99": "failed",
}


def receipt_failure(msisdn: str) -> str | None:
    """The err-code a destination draws: `990` + a code of RECEIPT_FAILURES, as its last five digits."""
    tail = msisdn[-5:]
    if len(tail) == 5 and tail.startswith("990"):
        code = str(int(tail[3:]))
        return code if code in RECEIPT_FAILURES else None
    return None


class VonageAccount(BaseModel):
    """`PUT /_sandbox/vonage/accounts/{api_key}`: what Vonage's dashboard sets for an account."""

    dr_callback_url: str | None = None
    http_method: Literal["POST", "POST-JSON", "GET"] = "POST"
    signature_secret: str | None = None
    signature_method: SignatureMethod = "md5hash"


def answer(*parts: Mapping[str, str]) -> web.Response:
    """Vonage's envelope; always HTTP 200, the verdict is in each part's status."""
    return web.json_response({"message-count": str(len(parts)), "messages": list(parts)})


def refusal(status: str, text: str, to: str | None = None) -> web.Response:
    part = {"status": status, "error-text": text}
    if to:
        part = {"to": to, **part}
    return answer(part)


class VonageSimulator:
    name = "vonage"

    def __init__(
        self,
        inbox: Inbox,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        rate_limit: int | None = RATE_LIMIT,
        clock: Callable[[], float] = time.time,
        account: VonageAccount | None = None,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.callbacks = Dispatcher(self.name)
        self.account = account or VonageAccount()
        self._mo_callback_url: str | None = None
        self.api_key = api_key or secrets.token_hex(4)
        self.api_secret = api_secret or secrets.token_urlsafe(12)
        self.rate_limit = rate_limit
        self.balance = 100.0
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        return [
            web.post("/sms/json", self._send),
            web.get("/sms/json", self._send),
            web.post("/account/settings", self._settings),
            web.get("/_sandbox/vonage/accounts/{api_key}", self._get_account),
            web.put("/_sandbox/vonage/accounts/{api_key}", self._put_account),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.callbacks.close()

    def adapter_config(self, base_url: str, *, status_callback_url: str | None = None) -> VonageConfig:
        a = self.account
        return VonageConfig(
            base_url=base_url,
            api_key=self.api_key,
            api_secret=SecretStr(self.api_secret),
            from_="Herald",
            status_callback_url=status_callback_url,
            signature_secret=SecretStr(a.signature_secret) if a.signature_secret else None,
            signature_method=a.signature_method,
        )

    def _credentials_ok(self, p: Mapping[str, str]) -> bool:
        return secrets.compare_digest(p.get("api_key", ""), self.api_key) and secrets.compare_digest(
            p.get("api_secret", ""), self.api_secret
        )

    async def _settings(self, request: web.Request) -> web.Response:
        """Vonage's `POST /account/settings`: set `drCallBackUrl` (and `moCallBackUrl`)."""
        p = await self._params(request)
        if not self._credentials_ok(p):
            return web.json_response({"error-code": "401", "error-code-label": "authentication failed"}, status=401)
        if "drCallBackUrl" in p:
            self.account = self.account.model_copy(update={"dr_callback_url": p["drCallBackUrl"] or None})
        if "moCallBackUrl" in p:
            self._mo_callback_url = p["moCallBackUrl"] or None
        return web.json_response(
            {
                "mo-callback-url": self._mo_callback_url or "",
                "dr-callback-url": self.account.dr_callback_url or "",
                "max-outbound-request": self.rate_limit or RATE_LIMIT,
                "max-inbound-request": self.rate_limit or RATE_LIMIT,
                "max-calls-per-second": self.rate_limit or RATE_LIMIT,
            }
        )

    def _account_for(self, request: web.Request) -> None:
        if request.match_info["api_key"] != self.api_key:
            raise web.HTTPNotFound(text="no such api_key")

    async def _get_account(self, request: web.Request) -> web.Response:
        self._account_for(request)
        return web.json_response(self.account.model_dump())

    async def _put_account(self, request: web.Request) -> web.Response:
        self._account_for(request)
        try:
            self.account = VonageAccount.model_validate(await request.json())
        except ValueError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        return web.json_response(self.account.model_dump())

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                body = await request.json()
                params.update({k: str(v) for k, v in body.items()} if isinstance(body, dict) else {})
            else:
                params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        creds = basic_credentials(request.headers.get("Authorization"))
        if creds and "api_key" not in params:
            params["api_key"], params["api_secret"] = creds
        return params

    def _throttled(self, key: str) -> bool:
        """A sliding one-second window over the last `rate_limit` accepted requests."""
        if self.rate_limit is None:
            return False
        now = self._clock()
        recent = self._recent.setdefault(key, deque(maxlen=self.rate_limit))
        if len(recent) == self.rate_limit and now - recent[0] < 1.0:
            return True
        recent.append(now)
        return False

    async def _send(self, request: web.Request) -> web.StreamResponse:
        p = await self._params(request)
        await self.faults.delay()
        draw = self.faults.draw()
        for name in ("api_key", "api_secret"):
            if not p.get(name):
                return refusal("2", f"Missing {name}")
        if not self._credentials_ok(p):
            return refusal("4", "Bad Credentials")
        if draw.kind == "throttle" or self._throttled(p["api_key"]):
            return refusal("1", "Throttled")
        problem = self._invalid(p)
        if problem:
            return refusal(*problem, to=p.get("to"))
        if p["to"] in self.faults.revoked or "+" + p["to"] in self.faults.revoked:
            return refusal("7", "Number Barred", to=p["to"])
        failure = receipt_failure(p["to"])
        if draw.kind == "error" and (draw.code or "").startswith("dlr-"):
            failure = (draw.code or "")[4:] if (draw.code or "")[4:] in RECEIPT_FAILURES else "99"
        elif draw.kind == "error":
            if draw.code == "500":
                return web.json_response({"error": "Internal Server Error"}, status=500)
            code = draw.code if draw.code in STATUS_TEXT else "5"
            return refusal(code, STATUS_TEXT[code], to=p["to"])
        parts = self._parts(p)
        self._receipts(p, parts, failure)
        if failure:
            return answer(*parts)
        self.inbox.record(
            InboxEntry(
                provider=self.name,
                destination="+" + p["to"],
                message_id=parts[0]["message-id"],
                key=p.get("client-ref"),
                collapse_key=None,
                headers={},
                body=_without_secret(p),
            )
        )
        if draw.kind == "drop":
            return await drop_connection(request)
        return answer(*parts)

    def _receipts(self, p: Mapping[str, str], parts: list[dict[str, Any]], err: str | None) -> None:
        """One receipt sequence per part: accepted (buffered before expiry), then the verdict."""
        url = p.get("callback") or self.account.dr_callback_url
        if not url:
            return
        final = RECEIPT_FAILURES[err] if err else "delivered"
        steps = [("buffered" if final == "expired" else "accepted", "0"), (final, err or "0")]
        for part in parts:
            self.callbacks.submit_all(self._receipt(url, p, part, status, code) for status, code in steps)

    def _receipt(self, url: str, p: Mapping[str, str], part: Mapping[str, Any], status: str, err: str) -> Callback:
        now = self._clock()
        fields = {
            "msisdn": p["to"],
            "to": p["from"],
            "network-code": _NETWORK,
            "messageId": part["message-id"],
            "price": _PRICE,
            "status": status,
            "scts": time.strftime("%y%m%d%H%M", time.gmtime(now)),
            "err-code": err,
            "api-key": self.api_key,
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        }
        if p.get("client-ref"):
            fields["client-ref"] = p["client-ref"]
        method = self.account.http_method
        sign = self._signer if self.account.signature_secret else None
        key, event = p.get("client-ref"), status
        if method == "GET":
            return Callback(url, method="GET", query=fields, sign=sign, key=key, event=event)
        if method == "POST-JSON":
            body = orjson.dumps(fields)
            headers = {"Content-Type": "application/json"}
            return Callback(url, body=body, headers=headers, sign=sign, key=key, event=event)
        return Callback(url, form=fields, sign=sign, key=key, event=event)

    def _signer(self, callback: Callback) -> Callback:
        """timestamp, nonce and sig added to the receipt, when it is sent (a retry is signed anew)."""
        a = self.account
        if not a.signature_secret:
            return callback
        fields = dict(callback.query or callback.form or (orjson.loads(callback.body) if callback.body else {}))
        fields.pop("sig", None)
        fields["timestamp"] = str(int(self._clock()))
        fields["nonce"] = str(uuid.uuid4())
        fields["sig"] = receipt_signature(a.signature_secret, a.signature_method, fields)
        if callback.query is not None:
            return replace(callback, query=fields)
        if callback.form is not None:
            return replace(callback, form=fields)
        return replace(callback, body=orjson.dumps(fields))

    def _invalid(self, p: Mapping[str, str]) -> tuple[str, str] | None:
        """The (status, error-text) Vonage would give these parameters, or None."""
        for name in ("from", "to", "text"):
            if not p.get(name):
                return "2", f"Missing {name} param"
        if not _MSISDN.match(p["to"]):
            return "3", "Invalid to address"
        if p.get("type", "text") not in _TYPES:
            return "3", "Invalid type param"
        if len(p.get("client-ref", "")) > 100:
            return "3", "Invalid client-ref param"
        return None

    def _parts(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        count = segment_count(p["text"], unicode=p.get("type") == "unicode")
        parts = []
        for _ in range(count):
            self.balance -= float(_PRICE)
            part = {
                "to": p["to"],
                "message-id": secrets.token_hex(8).upper(),
                "status": "0",
                "remaining-balance": f"{self.balance:.8f}",
                "message-price": _PRICE,
                "network": "23410",
            }
            if p.get("client-ref"):
                part["client-ref"] = p["client-ref"]
            parts.append(part)
        return parts


def _without_secret(p: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in p.items() if k != "api_secret"}
