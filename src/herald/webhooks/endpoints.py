"""HTTP for an app's webhook endpoints, their messages and attempts. Secrets come out once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Query, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.ids import parse_cursor
from herald.kit.uow import unit_of_work
from herald.webhooks import service
from herald.webhooks.schemas import (
    AttemptPage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    MessagePage,
    ReplayIn,
    ReplayOut,
    RotateIn,
    SecretOut,
)

# 409: two writes to one endpoint at once (the one rolled back wrote nothing).
router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], route_class=JsonRoute, responses=responses(*AUTHENTICATED, 409)
)

Cursor = Query(default=None, max_length=64, description="next_cursor of the previous page")
Limit = Query(default=50, ge=1, le=500)


@router.post("", response_model=EndpointCreated, status_code=201, summary="Register an endpoint; its secret, once")
async def create_webhook(body: EndpointIn, app: AppDep, services: ServicesDep) -> EndpointCreated:
    async with unit_of_work(services.sessions) as uow:
        e, secret = await service.create(uow, services.vault, services.egress, app.app_id, body)
        out = service.present(e)
    services.forget_webhooks(app.app_id)
    return EndpointCreated(**out.model_dump(), secret=secret)


@router.get("", response_model=list[EndpointOut])
async def list_webhooks(app: AppDep, services: ServicesDep) -> list[EndpointOut]:
    async with unit_of_work(services.sessions) as uow:
        return [service.present(e) for e in await service.list_all(uow, app.app_id)]


@router.get("/{webhook_id}", response_model=EndpointOut, responses=responses(404))
async def get_webhook(webhook_id: uuid.UUID, app: AppDep, services: ServicesDep) -> EndpointOut:
    async with unit_of_work(services.sessions) as uow:
        return service.present(await service.get(uow, app.app_id, webhook_id))


@router.patch("/{webhook_id}", response_model=EndpointOut, responses=responses(404))
async def update_webhook(webhook_id: uuid.UUID, body: EndpointPatch, app: AppDep, services: ServicesDep) -> EndpointOut:
    async with unit_of_work(services.sessions) as uow:
        out = service.present(await service.update(uow, services.egress, app.app_id, webhook_id, body))
    services.forget_webhooks(app.app_id)
    return out


@router.delete("/{webhook_id}", status_code=204, responses=responses(404))
async def delete_webhook(webhook_id: uuid.UUID, app: AppDep, services: ServicesDep) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete(uow, app.app_id, webhook_id)
    services.forget_webhooks(app.app_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretOut,
    responses=responses(404),
    summary="A new secret, shown once; the old one also signs during the overlap",
)
async def rotate_secret(webhook_id: uuid.UUID, body: RotateIn, app: AppDep, services: ServicesDep) -> SecretOut:
    overlap = timedelta(seconds=body.overlap_seconds)
    async with unit_of_work(services.sessions) as uow:
        e, secret = await service.rotate(uow, services.vault, app.app_id, webhook_id, overlap)
        until = service.present(e).previous_secret_until
    return SecretOut(secret=secret, previous_secret_until=until)


@router.post(
    "/{webhook_id}/replay",
    response_model=ReplayOut,
    responses=responses(404),
    summary="Send one message, or every message of a time range, again (same webhook-id)",
)
async def replay(webhook_id: uuid.UUID, body: ReplayIn, app: AppDep, services: ServicesDep) -> ReplayOut:
    async with unit_of_work(services.sessions) as uow:
        return ReplayOut(queued=await service.replay(uow, app.app_id, webhook_id, body))


@router.get("/{webhook_id}/messages", response_model=MessagePage, responses=responses(404), summary="Newest first")
async def list_messages(
    webhook_id: uuid.UUID, app: AppDep, services: ServicesDep, cursor: str | None = Cursor, limit: int = Limit
) -> MessagePage:
    before = parse_cursor(cursor)
    async with unit_of_work(services.sessions) as uow:
        items = await service.messages(uow, app.app_id, webhook_id, before, limit)
    return MessagePage(items=items, next_cursor=items[-1].id.hex if len(items) == limit else None)


@router.get("/{webhook_id}/attempts", response_model=AttemptPage, responses=responses(404), summary="Newest first")
async def list_attempts(
    webhook_id: uuid.UUID, app: AppDep, services: ServicesDep, cursor: str | None = Cursor, limit: int = Limit
) -> AttemptPage:
    before = parse_cursor(cursor)
    async with unit_of_work(services.sessions) as uow:
        items = await service.attempts(uow, app.app_id, webhook_id, before, limit)
    return AttemptPage(items=items, next_cursor=items[-1].id.hex if len(items) == limit else None)
