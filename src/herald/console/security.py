"""What guards every console request: the session cookie, the CSRF token, the origin check,
and the response headers (Content-Security-Policy and friends).

The CSRF token is a synchronizer token bound to the session: an HMAC of the session's id
under a key derived from the server's secret, so nothing extra is stored and a token is
worthless with any other session. Before sign-in it is bound instead to a random cookie
set with the sign-in form (a forged sign-in would put the victim in the attacker's account).
Forms carry it as a hidden field, htmx as the `X-CSRF-Token` header (`hx-headers` on <body>).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.services import ApiServices
from herald.config import Mode
from herald.console import service
from herald.console.errors import CsrfRejected
from herald.console.schemas import SignedIn
from herald.kit.uow import unit_of_work

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN = 128
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def secure(request: Request) -> bool:
    """Cookies are Secure (and `__Host-` prefixed) in production, where TLS is a given."""
    return services_of(request).settings.mode is Mode.PRODUCTION


def session_cookie(request: Request) -> str:
    return "__Host-herald_console" if secure(request) else "herald_console"


def _anonymous_cookie(request: Request) -> str:
    return "__Host-herald_console_csrf" if secure(request) else "herald_console_csrf"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure(request), httponly=True, samesite="lax")


async def signed_in(request: Request) -> SignedIn | None:
    """The session of this request, resolved once and kept on the request."""
    if hasattr(request.state, "signed_in"):
        cached: SignedIn | None = request.state.signed_in
        return cached
    token = request.cookies.get(session_cookie(request), "")
    who = None
    if 0 < len(token) <= MAX_TOKEN:
        services = services_of(request)
        async with unit_of_work(services.sessions) as uow:
            who = await service.signed_in(uow.session, services.settings.console, token)
    request.state.signed_in = who
    return who


def _key(request: Request) -> bytes:
    return hmac.new(services_of(request).pepper.encode(), b"herald/console/csrf", hashlib.sha256).digest()


async def _binding(request: Request) -> str | None:
    who = await signed_in(request)
    if who is not None:
        return f"session:{who.session_id}"
    anonymous = getattr(request.state, "new_anonymous_cookie", None) or request.cookies.get(
        _anonymous_cookie(request), ""
    )
    return f"anonymous:{anonymous}" if 0 < len(anonymous) <= MAX_TOKEN else None


async def csrf_token(request: Request, response: Response | None = None) -> str:
    """The token for this request's forms; before sign-in it also sets the cookie it binds to
    (on `response`), unless the browser already has one."""
    binding = await _binding(request)
    if binding is None:
        value = secrets.token_urlsafe(32)
        request.state.new_anonymous_cookie = value
        binding = f"anonymous:{value}"
    if response is not None:
        attach_anonymous_cookie(request, response)
    return hmac.new(_key(request), binding.encode(), hashlib.sha256).hexdigest()


def attach_anonymous_cookie(request: Request, response: Response) -> None:
    value = getattr(request.state, "new_anonymous_cookie", None)
    if value is not None:
        set_cookie(request, response, _anonymous_cookie(request), value, max_age=None)


def _own_origins(request: Request) -> set[str]:
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    public = services_of(request).settings.api.public_url
    if public:
        parts = urlsplit(public)
        own.add(f"{parts.scheme}://{parts.netloc}")
    return own


async def csrf_guard(request: Request) -> None:
    """Every state-changing request: from this console's own pages (Origin, Sec-Fetch-Site,
    when the browser sends them), with the token of this session. A dependency of the whole
    console app, so a route added later is guarded without asking."""
    if request.method not in UNSAFE:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfRejected("the request came from another site")
    origin = request.headers.get("origin")
    if origin is not None and origin not in _own_origins(request):
        raise CsrfRejected("the request came from another origin")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form: Any = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    binding = await _binding(request)
    if not given or binding is None or len(given) > MAX_TOKEN:
        raise CsrfRejected()
    expected = hmac.new(_key(request), binding.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected()


class SecurityHeaders:
    """Content-Security-Policy (no inline script, nothing from elsewhere) and the usual
    hardening headers on every console response; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(f"{scope.get('root_path', '')}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
