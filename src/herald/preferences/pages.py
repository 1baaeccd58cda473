"""The end users' hosted preference page: HTTP only (the rules are in `grid`, the tokens in `access`).

Two ways in, each exchanged at once for a short-lived page token (`access`) and a 303 to
`/preferences/{page token}`, so that neither the app's end-user token nor a message's link
stays in the browser's history, a link or a form:

- `GET /preferences?token=<end-user token>`: from the app's own site or in-app inbox, the
  token the app minted, checked as the end-user API checks it (throttled the same way);
- `GET /preferences/m/{token}`: the `preferences_url` of a message (tracking.tokens).

The page is a plain form (no script: the CSP allows none) posting to its own URL with its
CSRF token, answered by a 303 back to the page. Every answer is private (no-store,
no-referrer, noindex). A link or token that is not valid is a small HTML page with the
error's status and code, never a 500 and never JSON, since a person reads it.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from herald.api.deps import ServicesDep, get_authenticator
from herald.api.errors import status_for
from herald.api.routing import JsonRoute
from herald.api.services import ApiServices
from herald.kit.clock import utcnow
from herald.kit.errors import AuthThrottled, HeraldError, InvalidToken
from herald.kit.uow import unit_of_work
from herald.preferences import grid
from herald.preferences.access import InvalidPreferencesLink, PageKeys, page_keys
from herald.preferences.branding import Palette
from herald.tracking import service as tracking
from herald.tracking.tokens import Kind

PREFIX = "/preferences"
# The form has two fields per switch and one CSRF token; a body with more is not the page's.
_MAX_FIELDS = 2_000
_MAX_JWT = 4096
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
_HEADINGS = {
    "invalid_token": "This link is not valid",
    "token_expired": "This link has expired",
    "invalid_preferences_link": "This link is not valid",
    "preferences_link_expired": "This page has expired",
    "csrf_failed": "Your changes were not saved",
    "rate_limited": "Too many attempts",
}

_views = Environment(
    loader=PackageLoader("herald.preferences", "views"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
router = APIRouter(prefix=PREFIX, route_class=JsonRoute, include_in_schema=False)


def _keys(services: ApiServices) -> PageKeys:
    return page_keys(services.settings.effective_secret_key().get_secret_value())


def _html(view: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    csp = f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    text = _views.get_template(view).render(nonce=nonce, **context)
    return HTMLResponse(text, status, headers={**_PRIVATE, "Content-Security-Policy": csp, **(headers or {})})


def _error(exc: HeraldError) -> HTMLResponse:
    headers = {}
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer realm="herald", error="invalid_token"'
    if isinstance(exc, AuthThrottled):
        headers["Retry-After"] = str(exc.retry_after)
    heading = _HEADINGS.get(exc.code, "Nothing to show here")
    context = {"brand": "Notification preferences", "palette": Palette.of(None)}
    return _html("error.html", status_for(exc), headers, heading=heading, message=exc.message, code=exc.code, **context)


def _to_page(services: ApiServices, app_id: Any, user_id: str) -> Response:
    page = _keys(services).seal(app_id, user_id, utcnow())
    return Response(status_code=303, headers={**_PRIVATE, "Location": f"{PREFIX}/{page}"})


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.get("")
async def from_app(request: Request, services: ServicesDep) -> Response:
    """The app's way in: its end-user token, once, in the query."""
    token = request.query_params.get("token", "")
    try:
        if not token or len(token) > _MAX_JWT:
            raise InvalidToken()
        # A top-level navigation, not a page's script: no origin to hold to the app's list.
        user = await get_authenticator(request).end_user(token, _address(request), None)
    except HeraldError as exc:
        return _error(exc)
    return _to_page(services, user.app_id, user.user_id)


@router.get("/m/{token}")
async def from_message(token: str, services: ServicesDep) -> Response:
    """A message's way in: its signed `preferences_url`, bound to its delivery's user."""
    claim = services.tracking.codec.open(token, Kind.PREFERENCES)
    if claim is None:
        return _error(InvalidPreferencesLink())
    async with unit_of_work(services.sessions) as uow:
        sub = await tracking.subscription(uow, claim.delivery_id)
    if sub is None or sub.user_id is None:
        return _error(InvalidPreferencesLink())
    return _to_page(services, sub.app_id, sub.user_id)


@router.get("/{token}")
async def show(token: str, request: Request, services: ServicesDep) -> Response:
    keys = _keys(services)
    try:
        claim = keys.open(token, utcnow())
        async with unit_of_work(services.sessions) as uow:
            page = await grid.load(uow, claim.app_id, claim.user_id)
    except HeraldError as exc:
        return _error(exc)
    return _html(
        "page.html",
        brand=page.title,
        palette=page.palette,
        rows=page.rows,
        action=f"{PREFIX}/{token}",
        csrf=keys.csrf(token),
        saved=request.query_params.get("saved") == "1",
    )


@router.post("/{token}")
async def change(token: str, request: Request, services: ServicesDep) -> Response:
    keys = _keys(services)
    try:
        claim = keys.open(token, utcnow())
        form = await _form(request)
        keys.check_csrf(token, next((v for k, v in form if k == "csrf"), None))
        shown = {v for k, v in form if k == "shown"}
        on = {v for k, v in form if k == "on"}
        async with unit_of_work(services.sessions) as uow:
            await grid.save(uow, services.cache, claim.app_id, claim.user_id, shown, on)
    except HeraldError as exc:
        return _error(exc)
    return Response(status_code=303, headers={**_PRIVATE, "Location": f"{PREFIX}/{token}?saved=1"})


async def _form(request: Request) -> list[tuple[str, str]]:
    """The page's form (application/x-www-form-urlencoded); bytes that are not UTF-8 match no field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        return parse_qsl(body, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:
        return []
