"""Periods that span months with ragged ends: cut into months, days and hours (`pieces`), and
answered from the monthly, daily, hourly and the app's own tables exactly as a count of the
events themselves would, on both backends."""

from __future__ import annotations

import itertools
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


def test_a_year_with_ragged_ends_is_months_then_days_then_hours() -> None:
    start, end = at("2025-03-14T07:00"), at("2026-03-13T18:00")
    assert pieces(start, end) == [
        ("hour", start, at("2025-03-15T00:00")),
        ("day", at("2025-03-15T00:00"), at("2025-04-01T00:00")),
        ("month", at("2025-04-01T00:00"), at("2026-03-01T00:00")),
        ("day", at("2026-03-01T00:00"), at("2026-03-13T00:00")),
        ("hour", at("2026-03-13T00:00"), end),
    ]


@pytest.mark.parametrize(
    ("start", "end", "grains"),
    [
        ("2026-01-01T00:00", "2026-03-01T00:00", ["month"]),  # whole months only
        ("2025-12-01T00:00", "2026-01-01T00:00", ["month"]),  # December, into the next year
        ("2026-01-31T22:00", "2026-02-01T03:00", ["hour"]),  # across a month, no whole day
        ("2026-01-30T12:00", "2026-02-02T12:00", ["hour", "day", "hour"]),  # whole days, no whole month
        ("2026-02-01T00:00", "2026-02-28T00:00", ["day"]),  # all but the month's last day
        ("2026-01-31T00:00", "2026-03-01T05:00", ["day", "month", "hour"]),
        ("9999-11-29T05:00", "9999-12-31T23:00", ["hour", "day", "hour"]),  # no month after 9999-12
        ("9998-11-29T05:00", "9999-01-31T23:00", ["hour", "day", "month", "day", "hour"]),
    ],
)
def test_pieces_take_the_coarsest_buckets_that_fit(start: str, end: str, grains: list[str]) -> None:
    assert [g for g, _, _ in pieces(at(start), at(end))] == grains


def test_pieces_cover_the_period_once_each_on_its_buckets() -> None:
    rng = random.Random(22)
    for _ in range(2000):
        start = at("2024-11-01T00:00") + H * rng.randint(0, 24 * 500)
        end = start + H * rng.randint(1, 24 * 400)
        found = pieces(start, end)
        assert found[0][1] == start and found[-1][2] == end
        for (_, _, b), (_, a, _) in itertools.pairwise(found):
            assert b == a  # contiguous: no hour twice, none left out
        for grain, a, b in found:
            assert a < b
            if grain != "hour":
                assert a.hour == b.hour == 0
            if grain == "month":
                assert a.day == b.day == 1


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
        # Filtered: the per-combination tables answer, not the app's own.
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
    for only in ({}, {"template": "reset"}):  # the app's daily table, then the per-combination one
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
    for table in ("hourly", "daily", "monthly", "app_hourly", "app_daily", "app_monthly"):
        found = await rows(runtime, table)
        assert sum(r.get("sent", 0) for r in found) == len(deliveries), table
    months = {r["bucket"]: r["sent"] for r in await rows(runtime, "app_monthly")}
    assert months == {
        date(2025, 12, 1): expected(deliveries, at("2025-12-01T00:00"), at("2026-01-01T00:00")),
        date(2026, 1, 1): expected(deliveries, at("2026-01-01T00:00"), at("2026-02-01T00:00")),
        date(2026, 2, 1): expected(deliveries, at("2026-02-01T00:00"), at("2026-03-01T00:00")),
        date(2026, 3, 1): expected(deliveries, at("2026-03-01T00:00"), at("2026-04-01T00:00")),
    }
