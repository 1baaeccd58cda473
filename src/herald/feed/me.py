"""HTTP for the end user's own feed: called from the app's web pages (the inbox component)
with an end-user token, for the caller's feed only; with its live stream of new items and
counts (Server-Sent Events, resumable with Last-Event-ID)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from herald.api.deps import EndUserDep, EndUserStreamDep, ServicesDep
from herald.api.errors import END_USER, responses
from herald.api.routing import JsonRoute
from herald.feed import service
from herald.feed.schemas import Counts, CountsOut, FeedPage, ItemsIn, Mark, Status
from herald.feed.stream import last_event, stream
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.tracking import service as tracking

router = APIRouter(prefix="/v1/me/feed", tags=["end users"], route_class=JsonRoute, responses=responses(*END_USER))


@router.get("", response_model=FeedPage, summary="Your feed, newest first, with its counts")
async def feed(
    user: EndUserDep,
    services: ServicesDep,
    status: Status = "all",
    cursor: str | None = Query(default=None, max_length=32),
    limit: int = Query(default=20, ge=1, le=100),
) -> FeedPage:
    async with unit_of_work(services.sessions) as uow:
        return await service.page(uow, user.app_id, user.user_id, status, cursor, limit)


@router.get("/counts", response_model=Counts, summary="Your unread and unseen items")
async def counts(user: EndUserDep, services: ServicesDep) -> Counts:
    async with unit_of_work(services.sessions) as uow:
        return await service.counts(uow, user.app_id, user.user_id)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`item` and `counts` events, live"}},
    summary="Your feed, live (Server-Sent Events; the token in the query, as EventSource sends no headers)",
)
async def live(
    user: EndUserStreamDep,
    services: ServicesDep,
    last_event_id: str | None = Header(default=None, max_length=64),
) -> StreamingResponse:
    events = stream(services.sessions, services.feed_events, user.app_id, user.user_id, last_event(last_event_id))
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy may hold events back
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.post("/read-all", response_model=CountsOut, responses=responses(409), summary="Mark all your items read")
async def read_all(user: EndUserDep, services: ServicesDep) -> CountsOut:
    async with unit_of_work(services.sessions) as uow:
        return CountsOut(counts=await service.mark(uow, services.feed_events, user.app_id, user.user_id, None, "read"))


@router.post("/{mark}", response_model=CountsOut, responses=responses(409), summary="Mark your items")
async def mark(body: ItemsIn, mark: Mark, user: EndUserDep, services: ServicesDep) -> CountsOut:
    async with unit_of_work(services.sessions) as uow:
        # Reading an item opens its delivery: those of the ids the user had not read yet.
        opened = await tracking.unread_of(uow, user.app_id, user.user_id, body.ids) if mark == "read" else []
        counts = await service.mark(uow, services.feed_events, user.app_id, user.user_id, body.ids, mark)
        await tracking.feed_read(uow, services.tracking.events, user.app_id, opened, utcnow())
    return CountsOut(counts=counts)


@router.delete("/{item_id}", status_code=204, responses=responses(404, 409), summary="Delete one of your items")
async def delete(item_id: uuid.UUID, user: EndUserDep, services: ServicesDep) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete(uow, services.feed_events, user.app_id, user.user_id, item_id)
    return Response(status_code=204)
