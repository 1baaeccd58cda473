"""Periods that span months with ragged ends: cut into months, days and hours, some taken away
(`pieces`), and answered from the monthly, daily and hourly tables exactly as a count of the
events themselves would, on both backends."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from herald.analytics.service import pieces
from herald.events.service import Recorded
from herald.runtime import Runtime
from tests.analytics.seeding import app_ids, publish, recorded, rows

H = timedelta(hours=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_year_with_ragged_ends_reads_its_end_months_less_what_lies_outside() -> None:
    start, end = at("2025-03-14T07:00"), at("2026-03-13T18:00")
    assert pieces(start, end) == [
        ("month", at("2025-03-01T00:00"), at("2026-03-01T00:00"), 1),
        ("day", at("2025-03-01T00:00"), at("2025-03-14T00:00"), -1),  # 13 + 7 rows, not 17 + 17
        ("hour", at("2025-03-14T00:00"), start, -1),
        ("day", at("2026-03-01T00:00"), at("2026-03-14T00:00"), 1),  # 13 days less 6 hours
        ("hour", end, at("2026-03-14T00:00"), -1),
    ]


def test_the_current_month_is_one_row_less_the_days_to_come() -> None:
    now = at("2026-12-05T13:30")
    found = pieces(at("2026-11-05T14:00"), at("2026-12-05T14:00"), now)
    assert [p for p in found if p[3] > 0 and p[0] == "month"] == [
        ("month", at("2026-11-01T00:00"), at("2027-01-01T00:00"), 1)
    ]
    assert ("day", at("2026-12-06T00:00"), at("2027-01-01T00:00"), -1) in found
    # Without a `now`, the days to come count as rows: December is read as its own days.
    assert [g for g, a, _, _ in pieces(at("2026-11-05T14:00"), at("2026-12-05T14:00")) if a.month == 12] == [
        "day",
        "hour",
    ]


@pytest.mark.parametrize(
    ("start", "end", "grains"),
    [
        ("2026-01-01T00:00", "2026-03-01T00:00", ["month"]),  # whole months only
        ("2025-12-01T00:00", "2026-01-01T00:00", ["month"]),  # December, into the next year
        ("2026-01-31T22:00", "2026-02-01T03:00", ["hour"]),  # across a month, no whole day
        ("2026-01-30T12:00", "2026-02-02T12:00", ["hour", "day", "hour"]),  # whole days, no whole month
        ("2026-02-01T00:00", "2026-02-28T00:00", ["month", "day"]),  # the month less its last day
        ("2026-02-03T00:00", "2026-02-05T00:00", ["day"]),
        ("2026-01-31T00:00", "2026-03-01T05:00", ["day", "month", "hour"]),
        ("9999-11-29T05:00", "9999-12-31T23:00", ["day", "hour", "hour"]),  # no month after 9999-12
    ],
)
def test_pieces_read_the_fewest_rows(start: str, end: str, grains: list[str]) -> None:
    assert [g for g, _, _, _ in pieces(at(start), at(end))] == grains


def test_pieces_add_up_to_the_period_once() -> None:
    """Every hour of the period counted once, every other hour zero times (the pieces taken
    away included), and never more rows read than months, days and hours without subtraction."""
    rng = random.Random(22)
    for _ in range(3000):
        start = at("2024-11-01T00:00") + H * rng.randint(0, 24 * 500)
        end = start + H * rng.randint(1, 24 * 400)
        now = rng.choice([None, start + (end - start) * rng.random()])
        found = pieces(start, end, now)
        steps: dict[datetime, int] = {}
        for grain, a, b, sign in found:
            assert a < b and sign in (1, -1)
            if grain != "hour":
                assert a.hour == b.hour == 0
            if grain == "month":
                assert a.day == b.day == 1
            steps[a] = steps.get(a, 0) + sign
            steps[b] = steps.get(b, 0) - sign
        level, covered = 0, []
        for t in sorted(steps):
            level += steps[t]
            assert level in (0, 1), (start, end, found)
            covered.append((t, level))
        runs = [t for (t, lv), (_, prev) in zip(covered, [(None, 0), *covered], strict=False) if lv != prev]
        assert runs == [start, end], (start, end, found)


# One delivery accepted every 7 h 13 min from mid-December to mid-March, its template, channel
# and provider taking turns: every hour, day and month holds a different mix.
SEEDED_FROM = at("2025-12-20T03:17")
TEMPLATES, CHANNELS = ("welcome", "digest", "reset"), ("email", "sms")


def seeded() -> list[tuple[datetime, str, str]]:
    out, t, i = [], SEEDED_FROM, 0
    while t < at("2026-03-15T00:00"):
        out.append((t, TEMPLATES[i % 3], CHANNELS[i % 2 if i % 5 else 0]))
        t, i = t + timedelta(hours=7, minutes=13), i + 1
    return out


async def seed(runtime: Runtime) -> list[tuple[datetime, str, str]]:
    [app, *_] = await app_ids(runtime)
    deliveries = seeded()
    events: list[Recorded] = []
    for when, template, channel in deliveries:
        events.append(recorded(app, "accepted", when, template=template, channel=channel, provider=None))
        events.append(recorded(app, "sent", when, template=template, channel=channel, provider="p-" + channel))
    # In batches of mixed keys, as the consumer sees them.
    for i in range(0, len(events), 97):
        await publish(runtime.engine, events[i : i + 97])
    return deliveries


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def expected(deliveries: list[tuple[datetime, str, str]], start: datetime, end: datetime, **only: str) -> int:
    """The deliveries accepted in [start taken down to its hour, end taken up to its hour)."""
    lo, hi = _floor_hour(start), _floor_hour(end) + (H if end != _floor_hour(end) else timedelta(0))
    return sum(
        1
        for when, template, channel in deliveries
        if lo <= when < hi and only.get("template", template) == template and only.get("channel", channel) == channel
    )


PERIODS = [
    ("2025-12-28T05:30:00Z", "2026-03-02T17:10:00Z"),  # months, days and hours at both ends
    ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),  # whole months
    ("2026-01-31T22:00:00Z", "2026-02-01T03:20:00Z"),  # hours across a month's end
    ("2025-12-30T12:00:00Z", "2026-01-02T12:00:00Z"),  # days across a year's end
    ("2025-12-01T00:00:00Z", "2026-03-31T00:00:00Z"),  # past the seeded data at both ends
    ("2025-12-24T05:00:00Z", "2026-02-26T19:00:00Z"),  # whole months less the days and hours outside
    ("2026-01-02T03:00:00Z", "2026-01-30T20:00:00Z"),  # within a month: the month less both ends
    ("2026-02-10T01:00:00Z", "2026-02-10T23:00:00Z"),  # within a day: the day less two hours
]


async def test_month_spanning_periods_count_what_happened(runtime: Runtime, client: httpx.AsyncClient) -> None:
    deliveries = await seed(runtime)
    for start, end in PERIODS:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        params = {"from": start, "to": end}
        r = await client.get("/v1/analytics/totals", params=params)
        assert r.status_code == 200, r.text
        c = r.json()["counters"]
        assert (c["accepted"], c["sent"]) == (expected(deliveries, a, b),) * 2, (start, end)
        # Filtered (through the template index).
        r = await client.get("/v1/analytics/totals", params=params | {"template": "digest"})
        assert r.json()["counters"]["sent"] == expected(deliveries, a, b, template="digest"), (start, end)
        r = await client.get("/v1/analytics/breakdown", params=params | {"by": "channel"})
        found = {item["key"]: item["counters"]["sent"] for item in r.json()["items"]}
        wanted = {ch: expected(deliveries, a, b, channel=ch) for ch in CHANNELS}
        assert found == {ch: n for ch, n in wanted.items() if n}, (start, end)
        r = await client.get("/v1/analytics/breakdown", params=params | {"by": "template", "channel": "sms"})
        found = {item["key"]: item["counters"]["sent"] for item in r.json()["items"]}
        wanted = {t: expected(deliveries, a, b, template=t, channel="sms") for t in TEMPLATES}
        assert found == {t: n for t, n in wanted.items() if n}, (start, end)


async def test_daily_and_hourly_series_across_months(runtime: Runtime, client: httpx.AsyncClient) -> None:
    deliveries = await seed(runtime)
    params: dict[str, Any] = {"from": "2026-01-29T10:00:00Z", "to": "2026-02-03T05:00:00Z", "interval": "day"}
    for only in ({}, {"template": "reset"}):
        r = await client.get("/v1/analytics/series", params=params | only)
        assert r.status_code == 200, r.text
        points = r.json()["points"]
        days = [datetime.fromisoformat(p["start"]) for p in points]
        assert [d.date() for d in days] == [date(2026, 1, 29) + timedelta(days=i) for i in range(6)]
        assert [p["counters"]["sent"] for p in points] == [expected(deliveries, d, d + timedelta(days=1), **only)
                                                           for d in days]  # fmt: skip
    r = await client.get("/v1/analytics/series", params=params | {"interval": "hour", "to": "2026-02-01T06:00:00Z"})
    points = r.json()["points"]
    assert sum(p["counters"]["sent"] for p in points) == expected(
        deliveries, at("2026-01-29T10:00"), at("2026-02-01T06:00")
    )
    assert [p["counters"]["sent"] for p in points] == [
        expected(deliveries, datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["start"]) + H) for p in points
    ]


async def test_every_table_holds_the_same_total(runtime: Runtime, client: httpx.AsyncClient) -> None:
    deliveries = await seed(runtime)
    for table in ("hourly", "daily", "monthly"):
        found = await rows(runtime, table)
        assert sum(r.get("sent", 0) for r in found) == len(deliveries), table
    months: dict[date, int] = {}
    for r in await rows(runtime, "monthly"):
        months[r["bucket"]] = months.get(r["bucket"], 0) + r.get("sent", 0)
    assert months == {
        date(2025, 12, 1): expected(deliveries, at("2025-12-01T00:00"), at("2026-01-01T00:00")),
        date(2026, 1, 1): expected(deliveries, at("2026-01-01T00:00"), at("2026-02-01T00:00")),
        date(2026, 2, 1): expected(deliveries, at("2026-02-01T00:00"), at("2026-03-01T00:00")),
        date(2026, 3, 1): expected(deliveries, at("2026-03-01T00:00"), at("2026-04-01T00:00")),
    }
