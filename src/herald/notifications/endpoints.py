"""HTTP for notifications: accept one or a batch, read one, list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import ValidationError

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses, status_for
from herald.api.routing import JsonRoute
from herald.api.schemas import ErrorBody
from herald.kit.bounds import Timestamp
from herald.kit.channels import Channel
from herald.kit.errors import BatchTooLarge, ValidationFailed, field_of
from herald.kit.ids import parse_cursor
from herald.kit.uow import unit_of_work
from herald.notifications import service
from herald.notifications.models import DeliveryState
from herald.notifications.schemas import (
    BatchIn,
    BatchItemOut,
    BatchOut,
    NotificationIn,
    NotificationOut,
    NotificationPage,
)
from herald.notifications.search import Search

router = APIRouter(
    prefix="/v1/notifications", tags=["notifications"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)


@router.post(
    "",
    response_model=NotificationOut,
    status_code=202,
    responses={
        200: {"model": NotificationOut, "description": "A notification with this event_id exists; nothing was created"},
        **responses(404, 409),
    },
    summary="Accept a notification: 202 once it is committed to the log",
)
async def create(body: NotificationIn, app: AppDep, services: ServicesDep, response: Response) -> NotificationOut:
    result = await services.intake.accept_single(app.app_id, body)
    if result.error is not None:
        raise result.error
    assert result.notification is not None
    response.status_code = 202 if result.created else 200
    return result.notification


def _parse(index: int, raw: dict[str, Any]) -> NotificationIn | BatchItemOut:
    try:
        return NotificationIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_of(first.get("loc", ()))
        return BatchItemOut(
            index=index, status=422, error=ErrorBody(code="validation_error", message=first["msg"], field=field)
        )


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=responses(409),
    summary="Accept up to 1,000 notifications, with a result per item",
)
async def create_batch(body: BatchIn, app: AppDep, services: ServicesDep) -> BatchOut:
    limit = services.settings.api.max_batch
    if len(body.notifications) > limit:
        raise BatchTooLarge(f"a batch holds at most {limit} notifications", field="notifications")
    parsed = [_parse(i, raw) for i, raw in enumerate(body.notifications)]
    valid = [(i, p) for i, p in enumerate(parsed) if isinstance(p, NotificationIn)]
    results = await services.intake.accept(app.app_id, [p for _, p in valid])
    items: list[BatchItemOut] = [p for p in parsed if isinstance(p, BatchItemOut)]
    for (i, _), r in zip(valid, results, strict=True):
        if r.error is not None:
            items.append(
                BatchItemOut(
                    index=i,
                    status=status_for(r.error),
                    error=ErrorBody(code=r.error.code, message=r.error.message, field=r.error.field),
                )
            )
        else:
            items.append(BatchItemOut(index=i, status=202 if r.created else 200, notification=r.notification))
    items.sort(key=lambda it: it.index)
    return BatchOut(
        accepted=sum(1 for it in items if it.status == 202),
        duplicates=sum(1 for it in items if it.status == 200),
        rejected=sum(1 for it in items if it.status >= 400),
        results=items,
    )


@router.get(
    "/{notification_id}",
    response_model=NotificationOut,
    responses=responses(404),
    summary="Status, deliveries and attempts",
)
async def get(notification_id: uuid.UUID, app: AppDep, services: ServicesDep) -> NotificationOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.get_notification(uow, app.app_id, notification_id)


def search_filters(
    user_id: str | None = Query(default=None, min_length=1, max_length=200),
    event_id: str | None = Query(default=None, min_length=1, max_length=200),
    template: str | None = Query(default=None, min_length=1, max_length=200, description="Only this template (key)"),
    category: str | None = Query(default=None, min_length=1, max_length=100),
    state: DeliveryState | None = Query(default=None, description="Only notifications with a delivery in this state"),
    channel: Channel | None = Query(default=None, description="Only notifications with a delivery on this channel"),
    provider: str | None = Query(
        default=None, min_length=1, max_length=32, description="Only notifications with a delivery by this provider"
    ),
    created_after: Timestamp | None = Query(default=None, description="At or after this instant (offset required)"),
    created_before: Timestamp | None = Query(default=None, description="Before this instant (offset required)"),
) -> Search:
    """The search's filters from the query string: the list's and the CSV export's."""
    if created_after is not None and created_before is not None and created_before <= created_after:
        raise ValidationFailed("created_before must come after created_after", field="created_before")
    return Search(
        user_id=user_id,
        event_id=event_id,
        template=template,
        category=category,
        state=state.value if state else None,
        channel=channel.value if channel else None,
        provider=provider,
        created_after=created_after,
        created_before=created_before,
    )


SearchDep = Annotated[Search, Depends(search_filters)]


@router.get("", response_model=NotificationPage, summary="Search notifications, newest first")
async def list_(
    app: AppDep,
    services: ServicesDep,
    search: SearchDep,
    cursor: str | None = Query(default=None, max_length=64, description="next_cursor of the previous page"),
    limit: int = Query(default=50, ge=1, le=200),
) -> NotificationPage:
    before = parse_cursor(cursor)
    async with unit_of_work(services.sessions) as uow:
        items, last = await service.list_notifications(uow, app.app_id, search, limit=limit, cursor=before)
    return NotificationPage(items=items, next_cursor=last.hex if last else None)
