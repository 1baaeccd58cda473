"""The Vonage sandbox: `POST /sms/json`, answering HTTP 200 with a per-part status, as Vonage does.

Credentials come from the `api_key`/`api_secret` fields (or Basic auth): missing ones answer
status 2, wrong ones status 4 "Bad Credentials". Missing from/to/text answer 2, a `to` that
is not E.164 digits (or an unknown `type`, or a `client-ref` over 100 chars) answers 3, and a
number revoked at run time answers 7 "Number Barred". Each key may make 30 requests per
second; beyond that the answer is status 1 "Throttled" (the throttle draw answers the same).

Injected faults "1".."10" answer that status; "500" answers HTTP 500. A long text is split
into parts like Vonage does: one `messages` entry per part, one inbox entry per request.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from herald.providers.vonage import STATUS_TEXT, VonageConfig, segment_count
from herald.sandbox.faults import Faults
from herald.sandbox.httpauth import basic_credentials
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

RATE_LIMIT = 30  # requests per second per API key, Vonage's documented default
_MSISDN = re.compile(r"^[1-9]\d{6,14}$")
_TYPES = frozenset({"text", "unicode", "binary", "wappush", "vcal", "vcard"})
_PRICE = "0.03330000"


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
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.api_key = api_key or secrets.token_hex(4)
        self.api_secret = api_secret or secrets.token_urlsafe(12)
        self.rate_limit = rate_limit
        self.balance = 100.0
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        return [web.post("/sms/json", self._send), web.get("/sms/json", self._send)]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def adapter_config(self, base_url: str) -> VonageConfig:
        return VonageConfig(
            base_url=base_url,
            api_key=self.api_key,
            api_secret=SecretStr(self.api_secret),
            from_="Herald",
        )

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
        if not (
            secrets.compare_digest(p["api_key"], self.api_key)
            and secrets.compare_digest(p["api_secret"], self.api_secret)
        ):
            return refusal("4", "Bad Credentials")
        if draw.kind == "throttle" or self._throttled(p["api_key"]):
            return refusal("1", "Throttled")
        problem = self._invalid(p)
        if problem:
            return refusal(*problem, to=p.get("to"))
        if p["to"] in self.faults.revoked or "+" + p["to"] in self.faults.revoked:
            return refusal("7", "Number Barred", to=p["to"])
        if draw.kind == "error":
            if draw.code == "500":
                return web.json_response({"error": "Internal Server Error"}, status=500)
            code = draw.code if draw.code in STATUS_TEXT else "5"
            return refusal(code, STATUS_TEXT[code], to=p["to"])
        parts = self._parts(p)
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
