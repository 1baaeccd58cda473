"""Activity: the app's notification log searched by every filter of /v1/notifications (a GET
form, so a search is a link to share), a page at a time by keyset, its CSV export, and one
notification's timeline with its content, through the services the API uses."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.activity import export
from herald.activity import service as activity
from herald.console.filters import DELIVERY_STATES, options, parse_search
from herald.console.pages import AppContext, NavItem, Page, ViewerDep, render
from herald.console.security import services_of
from herald.kit.channels import Channel
from herald.kit.uow import unit_of_work
from herald.notifications import service as notifications

router = APIRouter(prefix="/apps/{app_id}/activity")
PAGE_SIZE = 50


def _link(app: AppContext, query: dict[str, str], **extra: str) -> str:
    shown = {k: v for k, v in {**query, **extra}.items() if v}
    return f"/apps/{app.id}/activity" + (f"?{urlencode(shown)}" if shown else "")


@router.get("")
async def activity_page(request: Request, app: ViewerDep) -> Response:
    found, errors = parse_search(request.query_params)
    context: dict[str, Any] = {
        "form": dict(request.query_params),
        "errors": errors,
        "states": options(DELIVERY_STATES),
        "channels": options(Channel.names()),
        "items": [],
        "next": None,
        "first": None,
    }
    if found is not None:
        filters, form = found
        async with unit_of_work(services_of(request).sessions) as uow:
            items, last = await notifications.list_notifications(
                uow, app.id, filters, limit=PAGE_SIZE, cursor=form.cursor
            )
        context["items"] = items
        context["next"] = _link(app, form.raw, cursor=last.hex) if last else None
        context["first"] = _link(app, form.raw) if form.cursor else None
        context["export"] = f"/apps/{app.id}/activity/export.csv" + (f"?{urlencode(form.raw)}" if form.raw else "")
    return await render(request, "activity/search.html", context, status=422 if errors else 200)


@router.get("/export.csv")
async def export_csv(request: Request, app: ViewerDep) -> Response:
    """The same export as /v1/notifications/export.csv, for the signed-in member: streamed a
    page at a time, each page in its own short transaction, capped by the same setting."""
    found, _ = parse_search(request.query_params)
    if found is None:
        return await activity_page(request, app)
    filters, form = found
    services = services_of(request)
    cap = services.settings.activity.export_max_rows
    pages = activity.export_pages(services.sessions, app.id, filters, cursor=form.cursor, max_rows=cap)
    return await export.streamed(pages, cap)


@router.get("/{notification_id}")
async def notification(request: Request, app: ViewerDep, notification_id: uuid.UUID) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        timeline = await activity.notification_timeline(uow, app.id, notification_id, with_content=True)
    channels = {d.id: d.channel.value for d in timeline.notification.deliveries}
    context = {"t": timeline, "n": timeline.notification, "channels": channels}
    return await render(request, "activity/notification.html", context)


page = Page(router, nav=NavItem("Activity", "activity"))
