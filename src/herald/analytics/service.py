"""Reading the rollups: totals and rates for a period, a series by day or hour, a breakdown.

Rollups are hourly, so a period is whole hours: `from` is taken down to its hour, `to` up to
the end of its hour, and the answer says which period it covers. A period's whole UTC months
are read from the monthly table, the whole days left at its ends from the daily one and only
the ragged hours from the hourly one, all in one statement: a year costs about 50 rows per
combination, not 8,760. A query that names only the dimensions one of the coarser levels keeps
(none, the template, its version, the channel, the provider within a channel: `models.LEVELS`)
reads that level's rows, a few per bucket, instead of every combination's. A daily series
covers whole UTC days (its period is widened to them).

Template versions are numbered per template, so a filter by version, or a breakdown by it, is
about one template: without a `template` filter it is refused (`TemplateRequired`) rather than
adding up the "version 2" of unrelated templates.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from herald.analytics import repository
from herald.analytics.folding import fold_all
from herald.analytics.models import COUNTERS
from herald.analytics.repository import Filters, Grain, Piece
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
_FOLDED = "analytics_folded"  # in the session's info: this unit of work has folded
Interval = Literal["day", "hour"]
Dimension = Literal["template", "template_version", "channel", "provider"]


class InvalidPeriod(ValidationFailed):
    """The period is not valid: `to` must come after `from`, both within years 1 to 9999."""

    code = "invalid_period"


class PeriodTooLong(ValidationFailed):
    """The period is longer than this query allows (400 days; 7 days for an hourly series)."""

    code = "period_too_long"


class TemplateRequired(ValidationFailed):
    """A template version was asked for (a filter or a breakdown) without its template."""

    code = "template_required"


def _one_template(f: Filters, by: Dimension | None = None) -> None:
    """Refuse a version filter or breakdown not narrowed to one template (see the module)."""
    if f.template is None and (f.template_version is not None or by == "template_version"):
        field = "template_version" if f.template_version is not None else "by"
        raise TemplateRequired("template versions are numbered per template: give `template` too", field=field)


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


def _next_month(at: datetime) -> datetime | None:
    """The month start after the month of `at`; None past the year 9999."""
    floor = _month(at.date())
    if floor.month < 12:
        return floor.replace(month=floor.month + 1)
    return floor.replace(year=floor.year + 1, month=1) if floor.year < 9999 else None


def _floor(grain: Grain, at: datetime) -> datetime:
    return _month(at.date()) if grain == "month" else _floor_day(at) if grain == "day" else at


def _ceil(grain: Grain, at: datetime) -> datetime | None:
    """The first `grain` start at or after `at` (an hour start); None past the year 9999."""
    floor = _floor(grain, at)
    if floor == at:
        return at
    try:
        return _next_month(at) if grain == "month" else floor + DAY
    except OverflowError:
        return None


def _next(grain: Grain, at: datetime) -> datetime | None:
    """The start of the `grain` after the one starting at `at`; None past the year 9999."""
    try:
        return _next_month(at) if grain == "month" else at + (DAY if grain == "day" else HOUR)
    except OverflowError:
        return None


_FINER: dict[Grain, Grain] = {"month": "day", "day": "hour"}


def _rows(p: Piece, now: datetime | None) -> int:
    """The buckets a piece reads, per combination: none that start at or after `now` (no delivery
    accepted in the future has a row yet)."""
    grain, a, b, _ = p
    if now is not None:
        b = min(b, max(a, now))
    if grain == "month":
        whole = (b.year - a.year) * 12 + b.month - a.month
        return whole + (b != _month(b.date()))
    return -(-(b - a) // (DAY if grain == "day" else HOUR))


def _cheapest(options: list[list[Piece]], now: datetime | None) -> list[Piece]:
    return min(options, key=lambda o: sum(_rows(p, now) for p in o))


def _minus(pieces: list[Piece]) -> list[Piece]:
    return [(g, a, b, -1 if sign > 0 else 1) for g, a, b, sign in pieces]


def _head(a: datetime, b: datetime, grain: Grain, now: datetime | None, whole: bool = True) -> list[Piece]:
    """[a, b): `b` a `grain` start, `a` (an hour start) within the `grain` before it. Its finer
    buckets, or that whole `grain` less [its start, a) when that reads fewer rows."""
    if a == b or grain == "hour":
        return []
    finer = _FINER[grain]
    inner = _ceil(finer, a)
    assert inner is not None  # at most b
    parts: list[Piece] = [(finer, inner, b, 1)] if inner < b else []
    options = [parts + _head(a, inner, finer, now)]
    if whole:
        start = _floor(grain, a)
        options.append([(grain, start, b, 1), *_minus(_tail(start, a, grain, now, whole=False))])
    return _cheapest(options, now)


def _tail(a: datetime, b: datetime, grain: Grain, now: datetime | None, whole: bool = True) -> list[Piece]:
    """[a, b): `a` a `grain` start, `b` (an hour start) within that `grain`. Its finer buckets,
    or that whole `grain` less [b, its end) when that reads fewer rows."""
    if a == b or grain == "hour":
        return []
    finer = _FINER[grain]
    inner = _floor(finer, b)
    parts: list[Piece] = [(finer, a, inner, 1)] if a < inner else []
    options = [parts + _tail(inner, b, finer, now)]
    stop = _next(grain, a)
    if whole and stop is not None:
        options.append([(grain, a, stop, 1), *_minus(_head(b, stop, grain, now, whole=False))])
    return _cheapest(options, now)


def pieces(start: datetime, end: datetime, now: datetime | None = None) -> list[Piece]:
    """[start, end) (whole hours) cut into the buckets that read the fewest rows: its whole UTC
    months, then at either end its whole days and hours, or the whole month (or day) they fall
    in less the days and hours outside the period when that reads fewer: a year is then 12 or
    13 months and at most a few dozen days and hours per combination, not 8,760 hours. Buckets
    from `now` on are taken to have no rows yet (the current month, less the days to come, is
    one row). Adjacent pieces of a grain and sign are joined (one range each); in time order."""
    joined: list[Piece] = []
    for p in sorted(_cut(start, end, now, "month"), key=lambda p: (p[3], _ORDER[p[0]], p[1])):
        if joined and joined[-1][0] == p[0] and joined[-1][3] == p[3] and joined[-1][2] == p[1]:
            joined[-1] = (p[0], joined[-1][1], p[2], p[3])
        else:
            joined.append(p)
    return sorted(joined, key=lambda p: (p[1], -p[3], _ORDER[p[0]]))


_ORDER: dict[Grain, int] = {"month": 0, "day": 1, "hour": 2}


def _cut(start: datetime, end: datetime, now: datetime | None, grain: Grain) -> list[Piece]:
    if start == end:
        return []
    if grain == "hour":
        return [("hour", start, end, 1)]
    first, last = _ceil(grain, start), _floor(grain, end)
    if first is not None and first <= last:
        middle: list[Piece] = [(grain, first, last, 1)] if first < last else []
        return _head(start, first, grain, now) + middle + _tail(last, end, grain, now)
    # Within one month (or day): its finer buckets, or all of it less what lies outside.
    options = [_cut(start, end, now, _FINER[grain])]
    outer, stop = _floor(grain, start), _next(grain, _floor(grain, start))
    if stop is not None:
        less = _tail(outer, start, grain, now, whole=False) + _head(end, stop, grain, now, whole=False)
        options.append([(grain, outer, stop, 1), *_minus(less)])
    return _cheapest(options, now)


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


async def _read(
    uow: UnitOfWork, app_id: uuid.UUID, pieces: list[Piece], f: Filters, group: str | None
) -> list[tuple[Any, list[int]]]:
    """`repository.sums`, after folding what writers staged (`folding`): an answer counts every
    event committed before the question, whether or not a worker has folded it yet. Once per
    unit of work: a page that reads totals, a series and three breakdowns folds once."""
    info = uow.session.info
    if not info.get(_FOLDED):
        await fold_all(await uow.session.connection())
        info[_FOLDED] = True
    return await repository.sums(uow.session, app_id, pieces, f, group)


async def _sums(uow: UnitOfWork, app_id: uuid.UUID, start: datetime, end: datetime, f: Filters, group: str | None
) -> dict[Any, list[int]]:  # fmt: skip
    """Sums over [start, end): whole months, days and hours from their tables, in one statement."""
    out: dict[Any, list[int]] = {}
    _merge(out, await _read(uow, app_id, pieces(start, end, utcnow()), f, group))
    return out


async def totals(
    uow: UnitOfWork, app_id: uuid.UUID, start: datetime | None, end: datetime | None, f: Filters
) -> TotalsOut:
    _one_template(f)
    begin, stop = period(start, end)
    sums = await _sums(uow, app_id, begin, stop, f, None)
    c = _counters(sums.get(None))
    return TotalsOut(from_=begin, to=stop, counters=c, rates=c.rates())


async def series(
    uow: UnitOfWork, app_id: uuid.UUID, start: datetime | None, end: datetime | None, interval: Interval, f: Filters
) -> SeriesOut:
    """One point per day or hour of the period, zeros included."""
    _one_template(f)
    if interval == "hour":
        begin, stop = period(start, end, longest=MAX_HOURLY_PERIOD)
        rows = await _read(uow, app_id, [("hour", begin, stop, 1)], f, "hour")
        found = {at: counts for at, counts in rows}
        step = HOUR
    else:
        begin, stop = period(start, end)
        try:
            begin, stop = _floor_day(begin), _ceil_day(stop)
        except OverflowError:
            raise InvalidPeriod("the period must fall between the years 1 and 9999", field="to") from None
        rows = await _read(uow, app_id, [("day", begin, stop, 1)], f, "day")
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
    """The period's totals per template, template version (of one template), channel or
    provider, the busiest first."""
    _one_template(f, by)
    begin, stop = period(start, end)
    sums = await _sums(uow, app_id, begin, stop, f, by)
    sent, accepted = COUNTERS.index("sent"), COUNTERS.index("accepted")
    ordered = sorted(sums.items(), key=lambda kv: (-kv[1][sent], -kv[1][accepted], kv[0]))
    items = []
    for key, counts in ordered[:limit]:
        c = _counters(counts)
        items.append(BreakdownItem(key=key or None, counters=c, rates=c.rates()))
    return BreakdownOut(from_=begin, to=stop, by=by, items=items, truncated=len(ordered) > limit)
