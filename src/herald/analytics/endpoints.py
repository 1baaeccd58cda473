"""HTTP for analytics: totals and rates, a series, a breakdown; the caller's app only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from herald.analytics import service
from herald.analytics.repository import Filters
from herald.analytics.schemas import BreakdownOut, SeriesOut, TotalsOut
from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.bounds import Timestamp
from herald.kit.channels import Channel
from herald.kit.uow import unit_of_work

router = APIRouter(
    prefix="/v1/analytics", tags=["analytics"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)

From = Annotated[
    Timestamp | None,
    Query(alias="from", description="Start (inclusive; taken down to its hour). Default: `to` minus 30 days"),
]
To = Annotated[Timestamp | None, Query(description="End (exclusive; taken up to its hour). Default: now")]
Template = Annotated[str | None, Query(min_length=1, max_length=200, description="Only this template")]
Version = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="Only this version of `template` (which it needs: 422 template_required)"),
]
Provider = Annotated[str | None, Query(min_length=1, max_length=32, description="Only this provider")]


def _filters(
    template: Template = None,
    template_version: Version = None,
    channel: Channel | None = None,
    provider: Provider = None,
) -> Filters:
    """The filters every read takes, as query parameters."""
    return Filters(template, template_version, channel.value if channel else None, provider)


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get("/totals", response_model=TotalsOut, summary="Counters and rates of the deliveries accepted in a period")
async def totals(
    app: AppDep, services: ServicesDep, filters: FiltersDep, start: From = None, to: To = None
) -> TotalsOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.totals(uow, app.app_id, start, to, filters)


@router.get("/series", response_model=SeriesOut, summary="Counters and rates per day or per hour, zeros included")
async def series(
    app: AppDep,
    services: ServicesDep,
    filters: FiltersDep,
    interval: service.Interval = "day",
    start: From = None,
    to: To = None,
) -> SeriesOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.series(uow, app.app_id, start, to, interval, filters)


@router.get(
    "/breakdown",
    response_model=BreakdownOut,
    summary="The period's counters per template, template version (of one template), channel or provider",
)
async def breakdown(
    app: AppDep,
    services: ServicesDep,
    by: service.Dimension,
    filters: FiltersDep,
    start: From = None,
    to: To = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many keys, the most sent first")] = 100,
) -> BreakdownOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.breakdown(uow, app.app_id, start, to, by, filters, limit)
