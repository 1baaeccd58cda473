"""Reading the rollups: totals and rates for a period, a series by day or hour, a breakdown.

Rollups are hourly, so a period is whole hours: `from` is taken down to its hour, `to` up to
the end of its hour, and the answer says which period it covers. A period's whole UTC months
are read from the monthly table, the whole days left at its ends from the daily one and only
the ragged hours from the hourly one, all in one statement: a year costs about 50 rows per
combination, not 8,760. Without a filter or a breakdown, the app's own tables answer (no
dimensions: a year is 12 months, or 365 days for a daily series). A daily series covers
whole UTC days (its period is widened to them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from herald.analytics import repository
from herald.analytics.models import COUNTERS
from herald.analytics.repository import Filters, Piece
from herald.analytics.schemas import BreakdownItem, BreakdownOut, Counters, Point, SeriesOut, TotalsOut
from herald.kit.clock import utcnow
from herald.kit.errors import ValidationFailed
from herald.kit.uow import UnitOfWork

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DEFAULT_PERIOD = timedelta(days=30)
# A year and a leap day, with room for a period that starts and ends mid-day.
MAX_PERIOD = timedelta(days=400)
# A week of hours (168 points): every combination's hourly rows are summed per hour, and on a
# busy app (600 combinations) 31 days of them took 0.6 s (bench/analytics.py); longer: by day.
MAX_HOURLY_PERIOD = timedelta(days=7)
Interval = Literal["day", "hour"]
Dimension = Literal["template", "channel", "provider"]


class InvalidPeriod(ValidationFailed):
    """The period is not valid: `to` must come after `from`, both within years 1 to 9999."""

    code = "invalid_period"


class PeriodTooLong(ValidationFailed):
    """The period is longer than this query allows (400 days; 7 days for an hourly series)."""

    code = "period_too_long"


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + HOUR


def _floor_day(at: datetime) -> datetime:
    return datetime.combine(at.astimezone(UTC).date(), time(), UTC)


def _ceil_day(at: datetime) -> datetime:
    floor = _floor_day(at)
    return floor if floor == at else floor + DAY


def period(
    start: datetime | None, end: datetime | None, *, longest: timedelta = MAX_PERIOD, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The period [start, end) in whole hours: by default the 30 days up to now."""
    if start is not None and end is not None and end <= start:
        raise InvalidPeriod("`to` must come after `from`", field="to")
    try:
        stop = _ceil_hour(end or now or utcnow())
        begin = _floor_hour(start) if start is not None else stop - DEFAULT_PERIOD
    except OverflowError:
        raise InvalidPeriod("the period must fall between the years 1 and 9999", field="to") from None
    if stop <= begin:
        raise InvalidPeriod("`to` must come after `from` (`to` defaults to now)", field="from")
    if stop - begin > longest:
        raise PeriodTooLong(f"the period may cover at most {longest.days} days for this query", field="from")
    return begin, stop


def _month(d: date) -> datetime:
    return datetime(d.year, d.month, 1, tzinfo=UTC)


def _ceil_month(at: datetime) -> datetime | None:
    """The first month start at or after `at`; None past the year 9999."""
    floor = _month(at.date())
    if floor == at:
        return floor
    if floor.month < 12:
        return floor.replace(month=floor.month + 1)
    return floor.replace(year=floor.year + 1, month=1) if floor.year < 9999 else None


def pieces(start: datetime, end: datetime) -> list[Piece]:
    """[start, end) (whole hours) cut into the coarsest buckets that fit: its whole UTC months,
    then the whole days at either end of them, then the hours left at either end. A year is
    then 11 or 12 months, at most 61 days and 46 hours per combination, not 8,760 hours."""
    try:
        first_day, last_day = _ceil_day(start), _floor_day(end)
    except OverflowError:  # within a day of the years' limits: no whole day to spare
        return [("hour", start, end)]
    if first_day >= last_day:
        return [("hour", start, end)]
    out: list[Piece] = []
    if start < first_day:
        out.append(("hour", start, first_day))
    first_month, last_month = _ceil_month(first_day), _month(last_day.date())
    if first_month is not None and first_month < last_month:
        if first_day < first_month:
            out.append(("day", first_day, first_month))
        out.append(("month", first_month, last_month))
        if last_month < last_day:
            out.append(("day", last_month, last_day))
    else:
        out.append(("day", first_day, last_day))
    if last_day < end:
        out.append(("hour", last_day, end))
    return out


def _merge(into: dict[Any, list[int]], rows: Iterable[tuple[Any, list[int]]]) -> None:
    for key, counts in rows:
        total = into.get(key)
        if total is None:
            into[key] = counts
        else:
            for i, n in enumerate(counts):
                total[i] += n


def _counters(counts: list[int] | None) -> Counters:
    return Counters(**dict(zip(COUNTERS, counts or [0] * len(COUNTERS), strict=True)))


async def _sums(uow: UnitOfWork, app_id: uuid.UUID, start: datetime, end: datetime, f: Filters, group: str | None
) -> dict[Any, list[int]]:  # fmt: skip
    """Sums over [start, end): whole months, days and hours from their tables, in one statement."""
    out: dict[Any, list[int]] = {}
    _merge(out, await repository.sums(uow.session, app_id, pieces(start, end), f, group))
    return out


async def totals(
    uow: UnitOfWork, app_id: uuid.UUID, start: datetime | None, end: datetime | None, f: Filters
) -> TotalsOut:
    begin, stop = period(start, end)
    sums = await _sums(uow, app_id, begin, stop, f, None)
    c = _counters(sums.get(None))
    return TotalsOut(from_=begin, to=stop, counters=c, rates=c.rates())


async def series(
    uow: UnitOfWork, app_id: uuid.UUID, start: datetime | None, end: datetime | None, interval: Interval, f: Filters
) -> SeriesOut:
    """One point per day or hour of the period, zeros included."""
    if interval == "hour":
        begin, stop = period(start, end, longest=MAX_HOURLY_PERIOD)
        rows = await repository.sums(uow.session, app_id, [("hour", begin, stop)], f, "hour")
        found = {at: counts for at, counts in rows}
        step = HOUR
    else:
        begin, stop = period(start, end)
        try:
            begin, stop = _floor_day(begin), _ceil_day(stop)
        except OverflowError:
            raise InvalidPeriod("the period must fall between the years 1 and 9999", field="to") from None
        rows = await repository.sums(uow.session, app_id, [("day", begin, stop)], f, "day")
        found = {datetime.combine(day, time(), UTC): counts for day, counts in rows}
        step = DAY
    points = []
    at = begin
    while at < stop:
        c = _counters(found.get(at))
        points.append(Point(start=at, counters=c, rates=c.rates()))
        at += step
    return SeriesOut(from_=begin, to=stop, interval=interval, points=points)


async def breakdown(
    uow: UnitOfWork,
    app_id: uuid.UUID,
    start: datetime | None,
    end: datetime | None,
    by: Dimension,
    f: Filters,
    limit: int,
) -> BreakdownOut:
    """The period's totals per template, channel or provider, the busiest first."""
    begin, stop = period(start, end)
    sums = await _sums(uow, app_id, begin, stop, f, by)
    sent, accepted = COUNTERS.index("sent"), COUNTERS.index("accepted")
    ordered = sorted(sums.items(), key=lambda kv: (-kv[1][sent], -kv[1][accepted], kv[0]))
    items = []
    for key, counts in ordered[:limit]:
        c = _counters(counts)
        items.append(BreakdownItem(key=key or None, counters=c, rates=c.rates()))
    return BreakdownOut(from_=begin, to=stop, by=by, items=items, truncated=len(ordered) > limit)
