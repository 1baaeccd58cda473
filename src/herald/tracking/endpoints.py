"""The public tracking endpoints: the open pixel, the click redirect, the unsubscribe page.

No authentication: the token is the authority (tracking.tokens), and a token that is not
valid is a 404 with `invalid_tracking_link`, never a redirect and never a 500. The pixel and
the redirect answer at once and hand their event to the buffer (tracking.recorder), which
writes in batches; an unsubscribe writes its preference before answering.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from herald.api.deps import EndUserDep, ServicesDep
from herald.api.errors import END_USER, responses
from herald.api.routing import JsonRoute
from herald.api.services import ApiServices
from herald.events.kinds import EventKind
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.tracking import pages, service
from herald.tracking.links import PREFERENCES_PATH
from herald.tracking.schemas import EngagementIn, EngagementOut
from herald.tracking.service import InvalidTrackingLink
from herald.tracking.tokens import Kind

# A 1x1 transparent GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# No cache may keep the answer (each load is an open) and the target learns nothing of Herald.
_PRIVATE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
_PUBLIC_ERRORS = (404, 413, 422, 431)
_HTML_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page (HTML, no script)"},
    404: {"content": {"text/html": {}}, "description": "Not a valid link (`invalid_tracking_link`), as a page"},
}

router = APIRouter(tags=["tracking"], route_class=JsonRoute, responses=responses(*_PUBLIC_ERRORS))


@router.get(
    "/t/o/{token}",
    response_class=Response,
    responses={200: {"content": {"image/gif": {}}, "description": "A 1x1 transparent GIF, never cached"}},
    summary="Open pixel: records `opened` for the email it was in",
)
async def open_pixel(token: str, services: ServicesDep) -> Response:
    t = services.tracking
    claim = t.codec.open(token, Kind.OPEN)
    if claim is None:
        raise InvalidTrackingLink(field="token")
    t.recorder.add(service.engagement(claim.delivery_id, EventKind.OPENED.value, utcnow()))
    return Response(PIXEL, media_type="image/gif", headers=_PRIVATE)


@router.get(
    "/t/c/{token}",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To the link's own URL, as the email contained it", "headers": {
        "Location": {"description": "The link's URL", "required": True, "schema": {"type": "string"}}}}},
    summary="Click-through: records `clicked` and redirects to the link's URL",
)  # fmt: skip
async def click(token: str, services: ServicesDep) -> Response:
    t = services.tracking
    claim = t.codec.open(token, Kind.CLICK)
    if claim is None or claim.url is None:
        raise InvalidTrackingLink(field="token")
    t.recorder.add(service.engagement(claim.delivery_id, EventKind.CLICKED.value, utcnow(), claim.url))
    return Response(status_code=302, headers={"Location": claim.url, **_PRIVATE})


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_PRIVATE)


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    responses={**_HTML_ANSWERS, **responses(503)},
    summary="Unsubscribe: a page that asks to confirm (changes nothing)",
)
async def unsubscribe_page(token: str, request: Request, services: ServicesDep) -> HTMLResponse:
    claim = services.tracking.codec.open(token, Kind.UNSUBSCRIBE)
    if claim is None:
        return _html(pages.invalid(), 404)
    async with unit_of_work(services.sessions) as uow:
        sub = await service.subscription(uow, claim.delivery_id)
    if sub is None or sub.user_id is None:
        return _html(pages.nothing())
    if sub.critical:
        return _html(pages.critical(_manage(services, sub)))
    return _html(pages.confirm(request.url.path, sub.channel, sub.category))


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    responses={**_HTML_ANSWERS, **responses(503)},
    summary="Unsubscribe: RFC 8058 one-click (`List-Unsubscribe=One-Click`), or the page's form",
    description="Opts the user out of the delivery's category on its channel and records `unsubscribed`."
    " No cookie, no confirmation: the signed link is the authority. Repeating it changes nothing more.",
)
async def unsubscribe(token: str, services: ServicesDep) -> HTMLResponse:
    t = services.tracking
    claim = t.codec.open(token, Kind.UNSUBSCRIBE)
    if claim is None:
        return _html(pages.invalid(), 404)
    async with unit_of_work(services.sessions) as uow:
        sub = await service.subscription(uow, claim.delivery_id)
        done = sub is not None and await service.unsubscribe(uow, services.cache, t.events, sub, utcnow())
    if sub is not None and sub.critical:
        return _html(pages.critical(_manage(services, sub)))
    if sub is None or not done:
        return _html(pages.nothing())
    return _html(pages.done(sub.channel, sub.category, _manage(services, sub)))


def _manage(services: ApiServices, sub: service.Subscription) -> str | None:
    """The user's preference page, for a delivery to a stored user (a relative link: same host)."""
    if sub.user_id is None:
        return None
    return PREFERENCES_PATH + services.tracking.codec.seal(Kind.PREFERENCES, sub.delivery_id)


me_router = APIRouter(
    prefix="/v1/me/deliveries", tags=["end users"], route_class=JsonRoute, responses=responses(*END_USER)
)


@me_router.post(
    "/{delivery_id}/events",
    response_model=EngagementOut,
    responses=responses(404, 409),
    summary="Report that you opened or clicked one of your push or in-app notifications",
)
async def report(delivery_id: uuid.UUID, body: EngagementIn, user: EndUserDep, services: ServicesDep) -> EngagementOut:
    async with unit_of_work(services.sessions) as uow:
        recorded = await service.report(
            uow, services.tracking.events, user.app_id, user.user_id, delivery_id, body.kind, body.url, utcnow()
        )
    return EngagementOut(recorded=recorded)
