"""Settings > Webhooks: the app's endpoints, through the same service as /v1/webhooks. A new
endpoint's secret is shown once, in the answer to its creation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from herald.console.pages import AppContext, OwnerDep, Page, ViewerDep, read_form, redirect, render
from herald.console.security import services_of
from herald.kit.errors import HeraldError
from herald.kit.uow import unit_of_work
from herald.webhooks import service as webhooks
from herald.webhooks.schemas import EndpointIn, EndpointPatch, WebhookType

router = APIRouter(prefix="/apps/{app_id}/settings/webhooks")
EVENTS = [t.value for t in WebhookType]


class EndpointForm(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    description: str = Field(default="", max_length=500)
    events: list[WebhookType] = Field(min_length=1, max_length=len(WebhookType))


async def _page(
    request: Request, app: AppContext, errors: dict[str, str] | None = None, raw: dict[str, Any] | None = None
) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        endpoints = [webhooks.present(e) for e in await webhooks.list_all(uow, app.id)]
    form = raw or {"events": ["delivered", "failed", "bounced"]}
    context = {"tab": "webhooks", "endpoints": endpoints, "events": EVENTS, "errors": errors or {}, "form": form}
    return await render(request, "settings/webhooks.html", context, status=422 if errors else 200)


@router.get("")
async def list_webhooks(request: Request, app: ViewerDep) -> Response:
    return await _page(request, app)


@router.post("")
async def add_webhook(request: Request, app: OwnerDep) -> Response:
    form, errors, raw = await read_form(request, EndpointForm)
    if form is None:
        return await _page(request, app, errors, raw)
    services = services_of(request)
    body = EndpointIn(url=form.url, description=form.description, events=form.events)
    try:
        async with unit_of_work(services.sessions) as uow:
            endpoint, secret = await webhooks.create(uow, services.vault, services.egress, app.id, body)
            shown = webhooks.present(endpoint)
    except HeraldError as exc:
        return await _page(request, app, {exc.field or "url": exc.message}, raw)
    services.forget_webhooks(app.id)
    return await render(
        request, "settings/webhook_created.html", {"tab": "webhooks", "endpoint": shown, "secret": secret}
    )


async def _set_enabled(request: Request, app: AppContext, webhook_id: uuid.UUID, enabled: bool) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        await webhooks.update(uow, services.egress, app.id, webhook_id, EndpointPatch(enabled=enabled))
    services.forget_webhooks(app.id)
    flash = "The endpoint is enabled." if enabled else "The endpoint is disabled: nothing more is posted to it."
    return redirect(request, f"/apps/{app.id}/settings/webhooks", flash=flash)


@router.post("/{webhook_id}/disable")
async def disable_webhook(request: Request, app: OwnerDep, webhook_id: uuid.UUID) -> Response:
    return await _set_enabled(request, app, webhook_id, False)


@router.post("/{webhook_id}/enable")
async def enable_webhook(request: Request, app: OwnerDep, webhook_id: uuid.UUID) -> Response:
    return await _set_enabled(request, app, webhook_id, True)


page = Page(router)
