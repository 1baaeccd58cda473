"""HTTP for analytics: totals and rates, a series, a breakdown; the caller's app only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

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
Provider = Annotated[str | None, Query(min_length=1, max_length=32, description="Only this provider")]


def _filters(template: str | None, channel: Channel | None, provider: str | None) -> Filters:
    return Filters(template=template, channel=channel.value if channel else None, provider=provider)


@router.get("/totals", response_model=TotalsOut, summary="Counters and rates of the deliveries accepted in a period")
async def totals(
    app: AppDep,
    services: ServicesDep,
    start: From = None,
    to: To = None,
    template: Template = None,
    channel: Channel | None = None,
    provider: Provider = None,
) -> TotalsOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.totals(uow, app.app_id, start, to, _filters(template, channel, provider))


@router.get("/series", response_model=SeriesOut, summary="Counters and rates per day or per hour, zeros included")
async def series(
    app: AppDep,
    services: ServicesDep,
    interval: service.Interval = "day",
    start: From = None,
    to: To = None,
    template: Template = None,
    channel: Channel | None = None,
    provider: Provider = None,
) -> SeriesOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.series(uow, app.app_id, start, to, interval, _filters(template, channel, provider))


@router.get(
    "/breakdown", response_model=BreakdownOut, summary="The period's counters per template, channel or provider"
)
async def breakdown(
    app: AppDep,
    services: ServicesDep,
    by: service.Dimension,
    start: From = None,
    to: To = None,
    template: Template = None,
    channel: Channel | None = None,
    provider: Provider = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many keys, the most sent first")] = 100,
) -> BreakdownOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.breakdown(uow, app.app_id, start, to, by, _filters(template, channel, provider), limit)
