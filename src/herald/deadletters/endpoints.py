"""HTTP for dead letters: list, inspect, replay one or many."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.deadletters import service
from herald.deadletters.schemas import DeadLetterOut, DeadLetterPage, ReplayFilter, ReplayOut
from herald.kit.bounds import Timestamp
from herald.kit.channels import Channel
from herald.kit.ids import parse_cursor
from herald.kit.uow import unit_of_work

router = APIRouter(
    prefix="/v1/dead-letters", tags=["dead letters"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)


@router.get("", response_model=DeadLetterPage, summary="Deliveries that ran out of attempts, newest first")
async def list_dead(
    app: AppDep,
    services: ServicesDep,
    channel: Channel | None = None,
    reason: str | None = Query(default=None, min_length=1, max_length=200, description="The provider's code"),
    provider: str | None = Query(default=None, min_length=1, max_length=32, description="The provider that failed"),
    since: Timestamp | None = Query(default=None, description="Died at or after this instant (offset required)"),
    until: Timestamp | None = Query(default=None, description="Died before this instant (offset required)"),
    cursor: str | None = Query(default=None, max_length=64, description="next_cursor of the previous page"),
    limit: int = Query(default=50, ge=1, le=500),
) -> DeadLetterPage:
    before = parse_cursor(cursor)
    async with unit_of_work(services.sessions) as uow:
        items, last = await service.list_page(
            uow,
            app.app_id,
            channel=channel.value if channel else None,
            reason=reason,
            since=since,
            cursor=before,
            limit=limit,
            provider=provider,
            until=until,
        )
    return DeadLetterPage(items=items, next_cursor=last.hex if last else None)


@router.get(
    "/{delivery_id}",
    response_model=DeadLetterOut,
    responses=responses(404),
    summary="One dead letter with its attempts",
)
async def inspect(delivery_id: uuid.UUID, app: AppDep, services: ServicesDep) -> DeadLetterOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.inspect(uow, app.app_id, delivery_id)


@router.post(
    "/{delivery_id}/replay", response_model=ReplayOut, responses=responses(404, 409), summary="Send again (idempotent)"
)
async def replay_one(delivery_id: uuid.UUID, app: AppDep, services: ServicesDep) -> ReplayOut:
    async with unit_of_work(services.sessions) as uow:
        ids = await service.replay(uow, services.broker, services.outbox, app.app_id, [delivery_id])
    return ReplayOut(replayed=len(ids), ids=ids)


@router.post(
    "/replay", response_model=ReplayOut, responses=responses(409), summary="Replay every dead letter matching a filter"
)
async def replay_many(body: ReplayFilter, app: AppDep, services: ServicesDep) -> ReplayOut:
    async with unit_of_work(services.sessions) as uow:
        ids = await service.replay_matching(uow, services.broker, services.outbox, app.app_id, body)
    return ReplayOut(replayed=len(ids), ids=ids)
