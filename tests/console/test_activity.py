"""The Activity page: the search by each filter, keyset pages, the CSV export of the same
search for a signed-in member, a notification's timeline and content; another app's
notification is a 404."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.console.logs import Log
from tests.console.seed import Browse, ConsoleClient, Seeded


def events_listed(html: str) -> set[str]:
    return set(re.findall(r'/activity/([0-9a-f-]{36})"', html))


async def test_each_filter_narrows_the_search(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    base = f"/console/apps/{seeded.app_id}/activity"
    everything = await owner.get(base)
    assert everything.status_code == 200
    alpha = {str(log.ids[k]) for k in ("shipped", "welcome", "guest")}
    assert events_listed(everything.text) == alpha, "the app's own notifications, not beta's"
    cases = {
        "user_id=ada": {"shipped"},
        "template=order-shipped": {"shipped", "welcome"},
        "category=news": {"welcome"},
        "channel=sms": {"welcome"},
        "state=dead": {"welcome"},
        "state=delivered&channel=email": {"shipped"},
        "provider=twilio": {"welcome"},
        "provider=twilio&channel=email": set(),
        "created_after=2000-01-01T00:00&created_before=2001-01-01T00:00": set(),
        "user_id=&template=&channel=&created_after=": {"shipped", "welcome", "guest"},  # an empty form is no filter
    }
    for query, expected in cases.items():
        r = await owner.get(f"{base}?{query}")
        assert r.status_code == 200, query
        assert events_listed(r.text) == {str(log.ids[k]) for k in expected}, query


async def test_bad_filters_are_shown_next_to_their_field(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    base = f"/console/apps/{seeded.app_id}/activity"
    for query, field in (
        ("state=nonsense", "state"),
        ("channel=fax", "channel"),
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-01-02T00:00&created_before=2026-01-01T00:00", "created_before"),
        ("user_id=" + "x" * 201, "user_id"),
        ("cursor=not-a-cursor", "cursor"),
    ):
        r = await owner.get(f"{base}?{query}")
        assert r.status_code == 422, query
        assert f'href="#{field}"' in r.text, query


async def test_pages_follow_the_keyset_cursor(
    owner: ConsoleClient, seeded: Seeded, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    from herald.console.routes import activity

    monkeypatch.setattr(activity, "PAGE_SIZE", 2)
    base = f"/console/apps/{seeded.app_id}/activity"
    first = await owner.get(f"{base}?category=&user_id=")
    shown = events_listed(first.text)
    assert len(shown) == 2
    found = re.search(r'href="(/console/apps/[^"]+cursor=[0-9a-f]+)" rel="next"', first.text)
    assert found is not None
    second = await owner.get(found.group(1).replace("&amp;", "&"))
    rest = events_listed(second.text)
    assert len(rest) == 1 and not rest & shown
    assert shown | rest == {str(log.ids[k]) for k in ("shipped", "welcome", "guest")}
    assert 'rel="next"' not in second.text and "First page" in second.text


async def test_the_csv_export_is_the_same_search(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    base = f"/console/apps/{seeded.app_id}/activity"
    page = await owner.get(f"{base}?channel=email")
    assert f'href="{base}/export.csv?channel=email"' in page.text
    r = await owner.get(f"{base}/export.csv?channel=email")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["id"] for row in rows} == {str(log.ids[k]) for k in ("shipped", "welcome", "guest")}
    assert str(log.ids["beta"]) not in r.text


async def test_the_export_needs_a_member_not_an_api_key(browse: Browse, seeded: Seeded, log: Log) -> None:
    anonymous = await browse()
    r = await anonymous.get(f"/console/apps/{seeded.app_id}/activity/export.csv")
    assert r.status_code == 303 and "/console/login" in r.headers["location"]
    keyed = await anonymous.http.get(
        f"/console/apps/{seeded.app_id}/activity/export.csv", auth=(seeded.app_key, seeded.app_secret)
    )
    assert keyed.status_code == 303
    outsider = await browse()
    await outsider.login(seeded.outsider)
    assert (await outsider.get(f"/console/apps/{seeded.app_id}/activity/export.csv")).status_code == 404


async def test_a_notification_page_tells_its_story(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    r = await owner.get(f"/console/apps/{seeded.app_id}/activity/{log.ids['welcome']}")
    assert r.status_code == 200
    html = r.text
    for expected in ("accepted", "queued", "max_attempts", "twilio", "550", "sendgrid"):
        assert expected in html, expected
    # The email as rendered: its HTML only in a sandboxed srcdoc, escaped, never in the page itself.
    frame = re.search(r"<iframe[^>]*>", html)
    assert frame is not None
    assert 'sandbox=""' in frame.group(0) and "srcdoc=" in frame.group(0)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in frame.group(0)
    assert "<script>alert(1)" not in html
    assert "Order 7 shipped" in html  # the subject and the SMS, rendered


async def test_another_apps_notification_is_not_found(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    r = await owner.get(f"/console/apps/{seeded.app_id}/activity/{log.ids['beta']}")
    assert r.status_code == 404
    assert "For beta only" not in r.text and "beta-secret-event" not in r.text
    search = await owner.get(f"/console/apps/{seeded.app_id}/activity?event_id=beta-secret-event")
    assert events_listed(search.text) == set()
