"""HTTP for a user's feed, for the app's backend (app credentials).

The end user's own view of the same feed, with its live stream, is `feed.me`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Query, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.feed import service
from herald.feed.schemas import Counts, CountsOut, FeedPage, ItemsIn, Mark, Status
from herald.kit.uow import unit_of_work
from herald.recipients.service import require_user

router = APIRouter(
    prefix="/v1/users/{user_id}/feed",
    tags=["feed"],
    route_class=JsonRoute,
    responses=responses(*AUTHENTICATED, 404, 409),
)
UserId = Path(min_length=1, max_length=200)


@router.get("", response_model=FeedPage, summary="The user's in-app feed, newest first, with its counts")
async def feed(
    app: AppDep,
    services: ServicesDep,
    user_id: str = UserId,
    status: Status = "all",
    cursor: str | None = Query(default=None, max_length=32),
    limit: int = Query(default=20, ge=1, le=100),
) -> FeedPage:
    async with unit_of_work(services.sessions) as uow:
        await require_user(uow, app.app_id, user_id)
        return await service.page(uow, app.app_id, user_id, status, cursor, limit)


@router.get("/counts", response_model=Counts, summary="Unread and unseen items")
async def counts(app: AppDep, services: ServicesDep, user_id: str = UserId) -> Counts:
    async with unit_of_work(services.sessions) as uow:
        await require_user(uow, app.app_id, user_id)
        return await service.counts(uow, app.app_id, user_id)


@router.post("/read-all", response_model=CountsOut, summary="Mark every item read")
async def read_all(app: AppDep, services: ServicesDep, user_id: str = UserId) -> CountsOut:
    async with unit_of_work(services.sessions) as uow:
        await require_user(uow, app.app_id, user_id)
        return CountsOut(counts=await service.mark(uow, services.feed_events, app.app_id, user_id, None, "read"))


@router.post("/{mark}", response_model=CountsOut, summary="Mark items read, unread, seen, archived or unarchived")
async def mark(body: ItemsIn, mark: Mark, app: AppDep, services: ServicesDep, user_id: str = UserId) -> CountsOut:
    async with unit_of_work(services.sessions) as uow:
        await require_user(uow, app.app_id, user_id)
        return CountsOut(counts=await service.mark(uow, services.feed_events, app.app_id, user_id, body.ids, mark))


@router.delete("/{item_id}", status_code=204, summary="Delete an item")
async def delete(item_id: uuid.UUID, app: AppDep, services: ServicesDep, user_id: str = UserId) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete(uow, services.feed_events, app.app_id, user_id, item_id)
    return Response(status_code=204)
