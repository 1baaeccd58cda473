"""CORS for the routes end users call from an app's web pages; no other route is opened to pages.

A preflight (OPTIONS) carries no token, so it cannot tell which app it is for: it is answered
for an origin that some enabled app allows, and refused (403, no CORS headers) for any other.
The actual request carries the token, and its app's origins decide (`Authenticator.end_user`):
an allowed origin gets `Access-Control-Allow-Origin`, a refused one a 403 `origin_not_allowed`
without it, before the route runs (a refused token has no app to decide: see
`_readable_refusal`). No cookies are involved (the token travels in a header),
so credentials are never allowed.

Which routes are end users' is read from the routes themselves (`deps.accepts_end_users`): a
route opens to pages by taking `EndUserDep`, nowhere else.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.auth import Authenticator
from herald.api.errors import error_body
from herald.kit.errors import HeraldError, OriginNotAllowed, Unavailable

log = logging.getLogger(__name__)

ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = b"authorization, content-type, last-event-id"
EXPOSE_HEADERS = b"retry-after"
# How long a browser may reuse a preflight's answer. Short: an origin an app removes stops
# passing preflights within this, and a refused one is asked again as soon.
MAX_AGE = b"600"
_STATE = "cors_origin"


def allow(request: Request, origin: str) -> None:
    """Let the page at `origin` read this request's answer (its token's app allows it)."""
    setattr(request.state, _STATE, origin)


class EndUserCors:
    """ASGI middleware: preflights for end-user routes, and CORS headers on their answers."""

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, routes: list[APIRoute]) -> None:
        self.app = app
        self._authenticator = authenticator
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _origin(scope) if scope["type"] == "http" else None
        if origin is None or not self._for_end_users(scope):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _has(scope, b"access-control-request-method"):
            await self._preflight(send, origin)
            return
        state = scope.setdefault("state", {})

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"vary", b"Origin")]
                if state.get(_STATE) == origin or await self._readable_refusal(message["status"], origin):
                    headers += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSE_HEADERS),
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _for_end_users(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self._routes)

    async def _readable_refusal(self, status: int, origin: str) -> bool:
        """A refused token (401, or 429 for too many) names no app whose origins could decide:
        a page of an origin that passed the preflight may read why, and so know to fetch a
        new token instead of seeing a network error."""
        if status not in (401, 429):
            return False
        try:
            return await self._authenticator.allowed_somewhere(origin)
        except (SQLAlchemyError, OSError):  # the refusal is answered all the same, unreadable
            return False

    async def _preflight(self, send: Send, origin: str) -> None:
        vary = (b"vary", b"Origin")
        try:
            allowed = await self._authenticator.allowed_somewhere(origin)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("preflight: cannot read the allowed origins: %s", exc)
            await _answer(send, 503, [vary, (b"retry-after", b"5")], Unavailable())
            return
        if not allowed:
            await _answer(send, 403, [vary], OriginNotAllowed(f"no app allows the origin {origin[:300]!r}"))
            return
        headers = [
            vary,
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", MAX_AGE),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _origin(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"origin":
            return bytes(value).decode("latin-1")
    return None


def _has(scope: Scope, header: bytes) -> bool:
    return any(name == header for name, _ in scope["headers"])


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], error: HeraldError) -> None:
    body = orjson.dumps(error_body(error.code, error.message))
    headers = [*headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
