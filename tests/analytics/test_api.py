"""/v1/analytics on known rollups: totals and rates, series with zeros, breakdowns, filters, the
period's ragged ends, app isolation and bad periods, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from herald.events.service import Recorded
from herald.kit.clock import utcnow
from herald.runtime import Runtime
from tests.analytics.seeding import app_ids, publish, recorded

D = datetime(2026, 6, 10, tzinfo=UTC)  # a day of the seeded data, at midnight


def iso(at: datetime) -> str:
    return at.isoformat()


async def seed(runtime: Runtime, client: httpx.AsyncClient) -> Any:
    """For the client's app: on day D, 10 emails of "welcome" by smtp (8 delivered, 4 opened
    once, 1 twice; 2 clicked), 4 SMS of "code" by twilio (1 undelivered), 1 inline email that
    failed before any provider; on D+2, 5 more "welcome" emails."""
    [app, *_] = await app_ids(runtime)
    at = D + timedelta(hours=9, minutes=15)
    events: list[Recorded] = []
    events += [recorded(app, "accepted", at, provider=None) for _ in range(10)]
    events += [recorded(app, "sent", at) for _ in range(10)]
    events += [recorded(app, "delivered", at) for _ in range(8)]
    events += [recorded(app, "opened", at) for _ in range(5)]
    events += [recorded(app, "opened", at, first=False)]
    events += [recorded(app, "clicked", at) for _ in range(2)]
    events += [recorded(app, "accepted", at, template="code", channel="sms", provider=None) for _ in range(4)]
    events += [recorded(app, "sent", at, template="code", channel="sms", provider="twilio") for _ in range(4)]
    events += [recorded(app, "undelivered", at, template="code", channel="sms", provider="twilio")]
    events += [recorded(app, "accepted", at, template=None, provider=None)]
    events += [recorded(app, "failed", at, template=None, provider=None)]
    later = D + timedelta(days=2, hours=3)
    events += [recorded(app, kind, later) for kind in ("sent",) for _ in range(5)]
    await publish(runtime.engine, events)
    return app


async def test_totals_and_rates_over_a_period(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await seed(runtime, client)
    r = await client.get("/v1/analytics/totals", params={"from": iso(D), "to": iso(D + timedelta(days=3))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"]) == ("2026-06-10T00:00:00Z", "2026-06-13T00:00:00Z")
    c = body["counters"]
    assert (c["accepted"], c["sent"], c["delivered"], c["undelivered"], c["failed"]) == (15, 19, 8, 1, 1)
    assert (c["opened"], c["opened_unique"], c["clicked"], c["clicked_unique"], c["bounced"]) == (6, 5, 2, 2, 0)
    rates = body["rates"]
    assert rates["delivery_rate"] == 8 / 19
    assert rates["open_rate"] == 5 / 8 and rates["click_to_open_rate"] == 2 / 5
    assert rates["failure_rate"] == 1 / 15 and rates["bounce_rate"] == 0.0
    # Filtered: the SMS only; no deliveries reported delivered, so the open rate is unknown.
    r = await client.get(
        "/v1/analytics/totals", params={"from": iso(D), "to": iso(D + timedelta(days=3)), "channel": "sms"}
    )
    sms = r.json()
    assert (sms["counters"]["sent"], sms["counters"]["undelivered"]) == (4, 1)
    assert sms["rates"]["open_rate"] is None and sms["rates"]["delivery_rate"] == 0.0


async def test_a_period_with_ragged_ends_reads_the_hours_it_covers(runtime: Runtime, client: httpx.AsyncClient) -> None:
    """Whole days come from the daily rows, the ends from the hourly ones: each hour counts once."""
    [app] = await app_ids(runtime)
    hours = [D + timedelta(hours=h) for h in (11, 12, 29, 53, 54)]  # D 11:00 and 12:00, D+1 05:00, D+2 05:00, 06:00
    await publish(runtime.engine, [recorded(app, "sent", at) for n, at in enumerate(hours) for _ in range(10**n)])
    r = await client.get(
        "/v1/analytics/totals",
        params={"from": iso(D + timedelta(hours=12, minutes=30)), "to": iso(D + timedelta(hours=53, minutes=1))},
    )
    body = r.json()
    # From 12:00 (its hour) to 06:00 on D+2 (the end of 05:xx): 12:00, D+1 05:00 and D+2 05:00.
    assert (body["from"], body["to"]) == ("2026-06-10T12:00:00Z", "2026-06-12T06:00:00Z")
    assert body["counters"]["sent"] == 10 + 100 + 1000


async def test_series_by_day_and_by_hour_fill_the_gaps(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await seed(runtime, client)
    days = {"interval": "day", "from": iso(D + timedelta(hours=5)), "to": iso(D + timedelta(days=3))}
    r = await client.get("/v1/analytics/series", params={**days, "template": "welcome"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["interval"]) == ("2026-06-10T00:00:00Z", "2026-06-13T00:00:00Z", "day")
    assert [(p["start"][:10], p["counters"]["sent"]) for p in body["points"]] == [
        ("2026-06-10", 10), ("2026-06-11", 0), ("2026-06-12", 5)
    ]  # fmt: skip
    assert body["points"][1]["rates"]["delivery_rate"] is None
    r = await client.get(
        "/v1/analytics/series", params={"interval": "hour", "from": iso(D), "to": iso(D + timedelta(days=1))}
    )
    points = r.json()["points"]
    assert len(points) == 24 and points[0]["start"] == "2026-06-10T00:00:00Z"
    assert [p["counters"]["sent"] for p in points] == [0] * 9 + [14] + [0] * 14


async def test_breakdowns(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await seed(runtime, client)
    period = {"from": iso(D), "to": iso(D + timedelta(days=3))}
    r = await client.get("/v1/analytics/breakdown", params={"by": "template", **period})
    assert r.status_code == 200, r.text
    got = {i["key"]: (i["counters"]["accepted"], i["counters"]["sent"]) for i in r.json()["items"]}
    assert got == {"welcome": (10, 15), "code": (4, 4), None: (1, 0)}
    assert [i["key"] for i in r.json()["items"]] == ["welcome", "code", None]  # the most sent first
    r = await client.get("/v1/analytics/breakdown", params={"by": "provider", **period})
    got = {i["key"]: (i["counters"]["accepted"], i["counters"]["sent"]) for i in r.json()["items"]}
    assert got == {"smtp": (0, 15), "twilio": (0, 4), None: (15, 0)}
    r = await client.get("/v1/analytics/breakdown", params={"by": "channel", "limit": 1, **period})
    body = r.json()
    assert [(i["key"], i["counters"]["sent"]) for i in body["items"]] == [("email", 15)] and body["truncated"]


async def test_the_default_period_is_the_last_30_days(runtime: Runtime, client: httpx.AsyncClient) -> None:
    [app] = await app_ids(runtime)
    now = utcnow()
    await publish(runtime.engine, [recorded(app, "sent", now - timedelta(days=d)) for d in (0, 29, 31)])
    body = (await client.get("/v1/analytics/totals")).json()
    assert body["counters"]["sent"] == 2
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(days=30)


async def test_an_app_sees_only_its_own(
    runtime: Runtime, client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    await seed(runtime, client)
    period = {"from": iso(D), "to": iso(D + timedelta(days=3))}
    assert (await other_client.get("/v1/analytics/totals", params=period)).json()["counters"]["sent"] == 0
    r = await other_client.get("/v1/analytics/breakdown", params={"by": "template", **period})
    assert r.json()["items"] == []
    r = await other_client.get("/v1/analytics/series", params=period)
    assert {p["counters"]["sent"] for p in r.json()["points"]} == {0}
    assert (await client.get("/v1/analytics/totals", params=period)).json()["counters"]["sent"] == 19


async def test_bad_periods_are_422_with_a_code(client: httpx.AsyncClient) -> None:
    cases: list[tuple[str, dict[str, str], str]] = [
        ("totals", {"from": iso(D), "to": iso(D)}, "invalid_period"),
        ("totals", {"from": iso(D), "to": iso(D - timedelta(hours=1))}, "invalid_period"),
        ("totals", {"from": iso(utcnow() + timedelta(days=2))}, "invalid_period"),  # `to` defaults to now
        ("totals", {"from": iso(D), "to": iso(D + timedelta(days=401))}, "period_too_long"),
        ("breakdown", {"by": "template", "from": iso(D - timedelta(days=500)), "to": iso(D)}, "period_too_long"),
        ("series", {"interval": "hour", "from": iso(D), "to": iso(D + timedelta(days=7, hours=1))}, "period_too_long"),
        ("totals", {"to": "0001-01-02T00:00:00Z"}, "invalid_period"),  # 30 days before it is no date
        ("totals", {"from": "9999-12-31T22:00:00Z", "to": "9999-12-31T23:30:00Z"}, "invalid_period"),
        ("totals", {"from": "2026-06-10T00:00:00"}, "validation_error"),  # no offset
        ("breakdown", {"by": "user"}, "validation_error"),
        ("series", {"interval": "minute"}, "validation_error"),
    ]
    for path, params, code in cases:
        r = await client.get(f"/v1/analytics/{path}", params=params)
        assert (r.status_code, r.json()["error"]["code"]) == (422, code), (path, params, r.text)


async def test_analytics_need_app_credentials(runtime: Runtime, client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/analytics/totals", auth=("nobody", "nothing"))
    assert r.status_code == 401
