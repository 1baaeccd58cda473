"""The HTTP/1.1 transport shared by the HTTP providers (FCM, web push, Twilio, Vonage, SendGrid).

aiohttp was chosen by measurement: about 10x httpx at 100 concurrent requests on this
machine (encode/httpx#3215). One pooled, keep-alive session per adapter, opened lazily
inside the running loop.

Herald never follows a redirect: a provider API answers rather than redirects, and a
redirect could point a guarded client at an address its checks never saw.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from herald.kit.clock import utcnow
from herald.kit.egress import EGRESS_DENIED, EgressRefused, Guard
from herald.providers.outcome import PermanentFailure, RetryLater, UnknownOutcome


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        import orjson

        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HttpClient:
    """A lazily created keep-alive session with bounded connections.

    With a `guard` (destinations an app chose), each URL is checked before its request and
    every name is resolved through the guard, on new connections only: a kept-alive
    connection was checked when it was opened.
    """

    def __init__(self, *, limit: int = 256, timeout: float = 10.0, ssl: Any = None, guard: Guard | None = None) -> None:
        self._limit = limit
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._ssl = ssl
        self._guard = guard
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = self._guard.resolver() if self._guard is not None else None
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl, ttl_dns_cache=300, resolver=resolver)
            # No cookie jar: provider APIs authenticate per request, and filtering a jar for
            # every request is measurable at thousands a second.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self, method: str, url: str, **kwargs: Any
    ) -> HttpAnswer | RetryLater | UnknownOutcome | PermanentFailure:
        """One exchange; a transport failure becomes the outcome it implies.

        A failure to connect means nothing was sent, so it is a plain retry. A timeout or a
        connection lost after the request went out leaves the outcome unknown: the provider
        may have accepted the message. A destination the guard refuses is a permanent
        `egress_denied`, with nothing sent.
        """
        if self._guard is not None and (refused := self._guard.refusal(url)) is not None:
            return PermanentFailure(EGRESS_DENIED, refused)
        try:
            async with self.session().request(method, url, allow_redirects=False, **kwargs) as resp:
                body = await resp.read()
                return HttpAnswer(resp.status, resp.headers, body)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, EgressRefused):
                return PermanentFailure(EGRESS_DENIED, str(exc.os_error))
            return RetryLater("connect_error", str(exc))
        except TimeoutError as exc:
            return UnknownOutcome("timeout", str(exc) or "no answer before the timeout")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            return UnknownOutcome("connection_lost", str(exc) or type(exc).__name__)
        except aiohttp.ClientError as exc:
            return UnknownOutcome("client_error", str(exc) or type(exc).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds, from either of its two forms (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())
