"""The Analytics page: its figures are the analytics service's for the period chosen (presets
and custom days), breakdowns sort by a GET parameter, the chart's JSON has the series' shape,
a viewer reads it, another app's analytics are a 404, and a bad period is told on the form."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from herald.analytics import service
from herald.analytics.repository import Filters
from herald.console.routes.analytics import choose
from herald.events.service import Recorded
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.runtime import Runtime
from tests.analytics.seeding import publish, recorded
from tests.console.seed import Browse, ConsoleClient, Seeded

D = datetime(2026, 3, 10, tzinfo=UTC)


async def seed_events(
    runtime: Runtime,
    app: uuid.UUID,
    at: datetime,
    *,
    sent: int,
    delivered: int,
    opened: int,
    template: str | None = "welcome",
    channel: str = "email",
    provider: str = "smtp",
) -> None:
    events: list[Recorded] = []
    for kind, n in (("sent", sent), ("delivered", delivered), ("opened", opened)):
        events += [recorded(app, kind, at, template=template, channel=channel, provider=provider) for _ in range(n)]
    await publish(runtime.engine, events)


def figure(html: str, attr: str, name: str) -> str:
    found = re.search(rf'data-{attr}="{name}">([^<]+)<', html)
    assert found is not None, f"no {attr} {name} on the page"
    return found.group(1)


def rows(html: str, by: str) -> list[str]:
    table = html.split(f'data-breakdown="{by}"')[1].split("</table>")[0]
    return [re.sub(r"<[^>]+>", "", k).strip() for k in re.findall(r'<th scope="row">(.*?)</th>', table)]


async def test_the_presets_show_the_services_totals_and_rates(
    runtime: Runtime, owner: ConsoleClient, seeded: Seeded
) -> None:
    today = datetime.combine(utcnow().date(), time(1), UTC)
    await seed_events(runtime, seeded.app_id, today, sent=12, delivered=10, opened=4)
    await seed_events(runtime, seeded.app_id, today - timedelta(days=20), sent=1234, delivered=1000, opened=3)
    await seed_events(runtime, seeded.other_app_id, today, sent=777, delivered=700, opened=70)
    for days, sent in (("7", "12"), ("30", "1,246")):
        page = await owner.get(f"/console/apps/{seeded.app_id}/analytics?period={days}")
        assert page.status_code == 200
        assert figure(page.text, "total", "sent") == sent
        first = datetime.combine(utcnow().date() - timedelta(days=int(days) - 1), time(), UTC)
        async with unit_of_work(runtime.sessions) as uow:
            end = datetime.combine(utcnow().date() + timedelta(days=1), time(), UTC)
            expected = await service.totals(uow, seeded.app_id, first, end, Filters())
        assert figure(page.text, "total", "sent") == f"{expected.counters.sent:,}"
        assert figure(page.text, "total", "delivered") == f"{expected.counters.delivered:,}"
        assert figure(page.text, "total", "opened") == f"{expected.counters.opened_unique:,}"
        assert expected.rates.open_rate is not None and expected.rates.delivery_rate is not None
        assert figure(page.text, "rate", "open-rate") == f"{expected.rates.open_rate * 100:.1f}%"
        assert figure(page.text, "rate", "delivery-rate") == f"{expected.rates.delivery_rate * 100:.1f}%"
        # The other app's sends, as a number shown on the page (its ids and tokens in the
        # markup may hold those digits by chance).
        shown = re.sub(r"<[^>]+>", " ", page.text)
        assert not re.search(r"(?<![\w.,-])777(?![\w.,-])", shown)
    default = await owner.get(f"/console/apps/{seeded.app_id}/analytics")
    assert figure(default.text, "total", "sent") == "1,246"  # 30 days unless told
    first_day = (utcnow().date() - timedelta(days=29)).isoformat()
    assert f'id="from" name="from" type="date" value="{first_day}"' in default.text  # to start a custom period from


async def test_a_custom_period_and_breakdowns_sorted_by_a_parameter(
    runtime: Runtime, owner: ConsoleClient, seeded: Seeded
) -> None:
    app = seeded.app_id
    await seed_events(runtime, app, D, sent=10, delivered=9, opened=1, template="welcome")
    await seed_events(runtime, app, D + timedelta(days=1), sent=5, delivered=5, opened=5, template="reset")
    await seed_events(runtime, app, D, sent=20, delivered=2, opened=0, template=None, channel="sms", provider="twilio")
    await seed_events(runtime, app, D + timedelta(days=5), sent=99, delivered=99, opened=0, template="later")
    base = f"/console/apps/{app}/analytics?period=custom&from=2026-03-10&to=2026-03-11"
    page = await owner.get(base)
    assert page.status_code == 200, page.text
    assert figure(page.text, "total", "sent") == "35"
    assert rows(page.text, "template") == ["no template (inline content)", "welcome", "reset"]  # most sent first
    assert rows(page.text, "channel") == ["sms", "email"] and rows(page.text, "provider") == ["twilio", "smtp"]
    by_open = await owner.get(base + "&sort=open_rate&dir=desc")
    assert rows(by_open.text, "template") == ["reset", "welcome", "no template (inline content)"]
    assert 'aria-sort="descending"' in by_open.text
    by_name = await owner.get(base + "&sort=key&dir=asc")
    assert rows(by_name.text, "template") == ["reset", "welcome", "no template (inline content)"]  # none last
    async with unit_of_work(runtime.sessions) as uow:
        expected = await service.breakdown(uow, app, D, D + timedelta(days=2), "template", Filters(), 100)
    assert {i.key: i.counters.sent for i in expected.items} == {None: 20, "welcome": 10, "reset": 5}
    per_day = page.text.split("Per day (the chart")[1].split("</table>")[0]
    assert '<th scope="row">2026-03-10</th><td class="num">30</td>' in per_day


async def test_the_series_json_has_one_point_per_day(runtime: Runtime, owner: ConsoleClient, seeded: Seeded) -> None:
    await seed_events(runtime, seeded.app_id, D + timedelta(days=1, hours=5), sent=3, delivered=2, opened=1)
    url = f"/console/apps/{seeded.app_id}/analytics/series.json"
    r = await owner.get(url + "?period=custom&from=2026-03-10&to=2026-03-12")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"from", "to", "days", "sent", "delivered", "opened", "clicked"}
    assert body["days"] == [int((D + timedelta(days=i)).timestamp()) for i in range(3)]
    assert [body[k] for k in ("sent", "delivered", "opened", "clicked")] == [[0, 3, 0], [0, 2, 0], [0, 1, 0], [0, 0, 0]]
    preset = (await owner.get(url + "?period=7")).json()
    today = datetime.combine(utcnow().date(), time(), UTC)
    assert len(preset["days"]) == 7 and preset["days"][-1] == int(today.timestamp())
    bad = await owner.get(url + "?period=custom&from=2026-03-12&to=2026-03-10")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_period"


async def test_a_viewer_reads_analytics_and_another_apps_are_a_404(browse: Browse, seeded: Seeded) -> None:
    viewer = await browse()
    assert (await viewer.login(seeded.viewer)).status_code == 303
    page = await viewer.get(f"/console/apps/{seeded.app_id}/analytics?period=7")
    assert page.status_code == 200 and "<h1>Analytics</h1>" in page.text
    nav = page.text.split('aria-label="App sections"')[1].split("</nav>")[0]
    assert f'href="/console/apps/{seeded.app_id}/analytics"' in nav and "Queues" not in nav  # owners only
    for path in ("analytics", "analytics/series.json"):
        assert (await viewer.get(f"/console/apps/{seeded.other_app_id}/{path}")).status_code == 404
    outsider = await browse()
    assert (await outsider.login(seeded.outsider)).status_code == 303
    r = await outsider.get(f"/console/apps/{seeded.app_id}/analytics/series.json")
    assert r.status_code == 404 and "sent" not in r.text


async def test_a_bad_period_is_told_on_the_form(owner: ConsoleClient, seeded: Seeded) -> None:
    base = f"/console/apps/{seeded.app_id}/analytics"
    cases = {
        "?period=custom&from=2026-03-12&to=2026-03-10": "must not come before",
        "?period=custom&from=nope&to=2026-03-10": "YYYY-MM-DD",
        "?period=custom&to=2026-03-10": "Enter a day.",
        "?period=custom&from=2020-01-01&to=2026-03-10": "at most 400 days",
        "?period=custom&from=2026-01-01&to=9999-12-31": "before 9999-12-31",
    }
    for query, message in cases.items():
        r = await owner.get(base + query)
        assert r.status_code == 422, query
        assert "There is a problem" in r.text and message in r.text, query
        assert 'aria-invalid="true"' in r.text
    for query in ("?period=12", "?sort=nonsense", "?dir=up", "?from=" + "9" * 11):
        assert (await owner.get(base + query)).status_code == 422, query


def test_a_custom_period_is_whole_utc_days() -> None:
    chosen, errors = choose("custom", "2026-03-10", "2026-03-10")
    assert errors == {} and chosen is not None
    assert (chosen.start, chosen.end) == (D, D + timedelta(days=1))
    assert chosen.query(sort="sent") == "period=custom&from=2026-03-10&to=2026-03-10&sort=sent"
    seven, _ = choose("7", None, None)
    assert seven is not None and seven.last == utcnow().date() and seven.last - seven.first == timedelta(days=6)
    assert date.fromisoformat("2026-03-10") == chosen.first
