"""HTTP for the Activity views: a notification's timeline, a search as CSV.

Mounted before the notifications' router: `/v1/notifications/export.csv` would otherwise be
taken for a notification id.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from herald.activity import export, service
from herald.activity.schemas import TimelineOut
from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.ids import parse_cursor
from herald.kit.uow import unit_of_work
from herald.notifications.endpoints import SearchDep

router = APIRouter(
    prefix="/v1/notifications", tags=["notifications"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "One row a notification"}},
    summary="A search as CSV, newest first, streamed (the list's filters; at most HERALD_ACTIVITY__EXPORT_MAX_ROWS)",
)
async def export_csv(
    app: AppDep,
    services: ServicesDep,
    search: SearchDep,
    cursor: str | None = Query(
        default=None, max_length=64, description="Continue after this notification id (the last row of a capped export)"
    ),
    limit: int | None = Query(default=None, ge=1, description="At most this many rows (capped by the setting)"),
) -> StreamingResponse:
    cap = services.settings.activity.export_max_rows
    rows = cap if limit is None else min(limit, cap)
    pages = service.export_pages(services.sessions, app.app_id, search, cursor=parse_cursor(cursor), max_rows=rows)
    return await export.streamed(pages, rows)


@router.get(
    "/{notification_id}/timeline",
    response_model=TimelineOut,
    responses=responses(404),
    summary="Everything that happened to a notification, oldest first, and its content",
)
async def timeline(
    notification_id: uuid.UUID,
    app: AppDep,
    services: ServicesDep,
    content: bool = Query(default=True, description="Include each delivery's content (stored or rendered now)"),
) -> TimelineOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.notification_timeline(uow, app.app_id, notification_id, with_content=content)
