"""Analytics: an app's totals and rates over a period (the last 7, 30 or 90 UTC days, or
chosen days), a daily series (a uPlot chart from `series.json`, and its table), and the
period's breakdown by template, channel and provider, sortable by a GET parameter. Every
figure comes from the analytics service the API's /v1/analytics routes use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from herald.analytics import service
from herald.analytics.repository import Filters
from herald.analytics.schemas import BreakdownItem, Counters, Rates
from herald.console.pages import NavItem, Page, ViewerDep, render
from herald.console.security import services_of
from herald.kit.clock import utcnow
from herald.kit.errors import HeraldError
from herald.kit.uow import unit_of_work

router = APIRouter(prefix="/apps/{app_id}/analytics")
PresetPeriod = Literal["7", "30", "90", "custom"]
SortKey = Literal[
    "key", "sent", "delivered", "opened", "clicked", "delivery_rate", "open_rate", "click_rate", "bounce_rate"
]
Direction = Literal["asc", "desc"]
DIMENSIONS: tuple[service.Dimension, ...] = ("template", "channel", "provider")
BREAKDOWN_LIMIT = 100
# The columns of a breakdown table: (sort key, heading, counter or rate).
COLUMNS: tuple[tuple[SortKey, str], ...] = (
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("delivery_rate", "Delivery rate"),
    ("open_rate", "Open rate"),
    ("click_rate", "Click rate"),
    ("bounce_rate", "Bounce rate"),
)
Period = Annotated[PresetPeriod, Query(description="the last 7, 30 or 90 days, or custom (from, to)")]
Day = Annotated[str | None, Query(max_length=10, description="a UTC day, YYYY-MM-DD (custom period)")]
From = Annotated[str | None, Query(alias="from", max_length=10, description="the first day of a custom period")]


@dataclass(frozen=True, slots=True)
class Chosen:
    """The period asked for, as the form shows it, and as the service reads it: whole UTC days."""

    period: PresetPeriod
    first: date
    last: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last, time(), UTC) + timedelta(days=1)

    def query(self, **more: str) -> str:
        params: dict[str, str] = {"period": self.period}
        if self.period == "custom":
            params |= {"from": self.first.isoformat(), "to": self.last.isoformat()}
        return urlencode(params | more)


def choose(period: PresetPeriod, start: str | None, to: str | None) -> tuple[Chosen | None, dict[str, str]]:
    """The period of the form, or None and what is wrong with it, by field."""
    today = utcnow().date()
    if period != "custom":
        return Chosen(period, today - timedelta(days=int(period) - 1), today), {}
    days: dict[str, date] = {}
    errors: dict[str, str] = {}
    for field, value in (("from", start), ("to", to)):
        try:
            days[field] = date.fromisoformat(value or "")
        except ValueError:
            errors[field] = "Enter a day as YYYY-MM-DD." if value else "Enter a day."
    if errors:
        return None, errors
    if days["to"] < days["from"]:
        return None, {"to": "The last day must not come before the first."}
    if days["to"] >= date.max:
        return None, {"to": "The last day must be before 9999-12-31."}
    return Chosen(period, days["from"], days["to"]), {}


# The "opened" and "clicked" columns count deliveries opened or clicked at least once, as the rates do.
_COUNTER = {"opened": "opened_unique", "clicked": "clicked_unique"}


def sort_value(sort: SortKey, item: BreakdownItem) -> Any:
    if sort == "key":
        return item.key
    if sort in Counters.model_fields:
        return getattr(item.counters, _COUNTER.get(sort, sort))
    return getattr(item.rates, sort)


def ordered(items: list[BreakdownItem], sort: SortKey, direction: Direction) -> list[BreakdownItem]:
    """The rows by `sort`; a row without a value (no template, a rate of nothing) comes after
    every row with one, whichever the direction."""
    present = [i for i in items if sort_value(sort, i) is not None]
    absent = [i for i in items if sort_value(sort, i) is None]
    present.sort(key=lambda i: sort_value(sort, i), reverse=direction == "desc")
    return present + absent


async def _figures(request: Request, app_id: uuid.UUID, chosen: Chosen) -> dict[str, Any]:
    async with unit_of_work(services_of(request).sessions) as uow:
        totals = await service.totals(uow, app_id, chosen.start, chosen.end, Filters())
        series = await service.series(uow, app_id, chosen.start, chosen.end, "day", Filters())
        breakdowns = {
            by: await service.breakdown(uow, app_id, chosen.start, chosen.end, by, Filters(), BREAKDOWN_LIMIT)
            for by in DIMENSIONS
        }
    return {"totals": totals, "series": series, "breakdowns": breakdowns}


@router.get("")
async def analytics(
    request: Request,
    app: ViewerDep,
    period: Period = "30",
    start: From = None,
    to: Day = None,
    sort: SortKey = "sent",
    direction: Annotated[Direction, Query(alias="dir")] = "desc",
) -> Response:
    chosen, errors = choose(period, start, to)
    # A preset's days fill the custom fields, to start a custom period from.
    shown = (chosen.first.isoformat(), chosen.last.isoformat()) if chosen else (start or "", to or "")
    context: dict[str, Any] = {
        "form": {"period": period, "from": shown[0], "to": shown[1]},
        "errors": errors,
        "sort": sort,
        "direction": direction,
        "columns": COLUMNS,
        "dimensions": DIMENSIONS,
        "presets": [p for p in get_args(PresetPeriod) if p != "custom"],
    }
    if chosen is not None:
        try:
            figures = await _figures(request, app.id, chosen)
        except HeraldError as exc:
            errors = {exc.field or "from": exc.message}
        else:
            items = {by: ordered(b.items, sort, direction) for by, b in figures["breakdowns"].items()}
            context |= figures | {"chosen": chosen, "items": items, "rates": _rates(figures["totals"].rates)}
    context["errors"] = errors
    return await render(request, "analytics/page.html", context, status=422 if errors else 200)


def _rates(rates: Rates) -> list[tuple[str, float | None]]:
    return [
        ("Delivery rate", rates.delivery_rate),
        ("Open rate", rates.open_rate),
        ("Click rate", rates.click_rate),
        ("Bounce rate", rates.bounce_rate),
    ]


@router.get("/series.json")
async def series_json(
    request: Request, app: ViewerDep, period: Period = "30", start: From = None, to: Day = None
) -> Response:
    """The daily series for the chart: days as Unix seconds, then one list per counter."""
    chosen, errors = choose(period, start, to)
    if chosen is None:
        return JSONResponse({"error": {"code": "invalid_period", "fields": errors}}, status_code=422)
    try:
        async with unit_of_work(services_of(request).sessions) as uow:
            series = await service.series(uow, app.id, chosen.start, chosen.end, "day", Filters())
    except HeraldError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=422)
    points = series.points
    return JSONResponse(
        {
            "from": series.from_.isoformat(),
            "to": series.to.isoformat(),
            "days": [int(p.start.timestamp()) for p in points],
            "sent": [p.counters.sent for p in points],
            "delivered": [p.counters.delivered for p in points],
            "opened": [p.counters.opened_unique for p in points],
            "clicked": [p.counters.clicked_unique for p in points],
        }
    )


page = Page(router, nav=NavItem("Analytics", "analytics"))
