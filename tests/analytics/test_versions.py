"""Rollups per template version: every event of a delivery counts under the version it recorded
at intake (even when it is sent after a newer one went live), duplicates and reordered events
once; the API's breakdown and filter by version, and their need of a template, on both backends."""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from herald.analytics.consumer import fold_arrays, increments
from herald.analytics.models import COUNTERS
from herald.notifications.models import Delivery
from tests.analytics.seeding import event, record, recorded, rows
from tests.harness import EMAIL_TEMPLATE, Herald

T0 = datetime(2026, 3, 1, 10, 59, 30, tzinfo=UTC)
KEY = "order-shipped"


def test_the_key_is_the_recorded_version_under_a_template_only() -> None:
    """The version is a key of its own; without a template (inline content, a test send whose
    version is stamped after its `accepted` counted) it is "", as its `accepted` was."""
    app = uuid.uuid4()
    batch = [
        recorded(app, "sent", T0, version=1),
        recorded(app, "sent", T0, version=2),
        recorded(app, "sent", T0, version=2),
        recorded(app, "sent", T0, version=None),
        recorded(app, "sent", T0, template=None, version=3),
    ]
    sent = COUNTERS.index("sent")
    found = {(k[2], k[3]): v[sent] for k, v in increments(batch).items()}
    assert found == {("welcome", "1"): 1, ("welcome", "2"): 2, ("welcome", ""): 1, ("", ""): 1}
    milestones = [(uuid.uuid4(), app, T0, t, v, "email", None, "accepted") for t, v in (("welcome", 4), (None, 5))]
    arrays = fold_arrays(milestones)
    assert [arrays["k_template_version"][n - 1] for n in arrays["m_key"]] == ["4", ""]


async def _notify(h: Herald, n: int, version: int) -> list[uuid.UUID]:
    """`n` notifications of the template, each one's delivery recording `version`."""
    out = []
    for _ in range(n):
        r = await h.notify()
        assert r.status_code == 202, r.text
        [d] = r.json()["deliveries"]
        assert d["template_version"] == version
        out.append(uuid.UUID(d["id"]))
    return out


async def test_each_version_counts_its_own_deliveries_once(herald: Herald) -> None:
    """v1 live: two notifications accepted; v2 published (draft, then publish): three more; the
    workers send all five after that. Receipts and opens, each sent twice and shuffled, one
    transaction each. Every counter of a delivery lands under the version it was accepted
    with, so v1's rates divide v1's deliveries."""
    await herald.user()
    await herald.template(KEY)
    old = await _notify(herald, 2, 1)
    draft: dict[str, Any] = copy.deepcopy(EMAIL_TEMPLATE)
    draft["channels"]["email"]["subject"] = "Order {{ order_id }} is on its way"
    assert (await herald.client.put(f"/v1/templates/{KEY}/draft", json=draft)).status_code in (200, 201)
    r = await herald.client.post(f"/v1/templates/{KEY}/publish")
    assert r.status_code == 200, r.text
    new = await _notify(herald, 3, 2)
    await herald.drain()
    async with herald.runtime.sessions() as session:
        states = (await session.scalars(select(Delivery.state).where(Delivery.id.in_(old + new)))).all()
    assert states == ["delivered"] * 5  # v1's two were sent after v2 went live

    later = datetime.now(UTC)
    story = [
        event(old[0], "delivered", later),
        event(old[0], "opened", later, "o1"),
        event(old[0], "opened", later + timedelta(minutes=1), "o2"),
        event(new[0], "delivered", later),
        event(new[1], "delivered", later),
        event(new[1], "delivered", later + timedelta(seconds=5), "again"),  # repeated under another id
        event(new[0], "opened", later, "o1"),
        event(new[0], "clicked", later, "c1"),
    ]
    events = story * 2
    random.Random(22).shuffle(events)
    duplicates = 0
    for e in events:
        duplicates += (await record(herald.runtime, [e])).duplicates
    assert duplicates == len(story)

    counters = ("accepted", "sent", "delivered", "opened", "opened_unique", "clicked_unique")
    # (The default period, the last 30 days, holds them all.)
    r = await herald.client.get("/v1/analytics/breakdown", params={"by": "template_version", "template": KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by"] == "template_version"
    got = {i["key"]: tuple(i["counters"][c] for c in counters) for i in body["items"]}
    assert got == {"1": (2, 2, 1, 2, 1, 0), "2": (3, 3, 2, 1, 1, 1)}
    assert [i["key"] for i in body["items"]] == ["2", "1"]  # the most sent first
    rates = {i["key"]: i["rates"]["open_rate"] for i in body["items"]}
    assert rates == {"1": 1.0, "2": 0.5}
    # Each table holds the same split (the hourly rows, whatever hour the run fell in).
    by_version: dict[str, int] = {}
    for row in await rows(herald.runtime):
        by_version[row["version"]] = by_version.get(row["version"], 0) + row.get("accepted", 0)
    assert by_version == {"1": 2, "2": 3}

    r = await herald.client.get("/v1/analytics/totals", params={"template": KEY, "template_version": 1})
    assert r.status_code == 200, r.text
    assert (r.json()["counters"]["sent"], r.json()["counters"]["opened"]) == (2, 2)
    r = await herald.client.get("/v1/analytics/series", params={"template": KEY, "template_version": 3})
    assert r.status_code == 200 and {p["counters"]["sent"] for p in r.json()["points"]} == {0}


async def test_a_version_without_its_template_is_422(herald: Herald) -> None:
    """Versions are numbered per template: "version 2" of every template added up means nothing."""
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("breakdown", {"by": "template_version"}, "by"),
        ("breakdown", {"by": "channel", "template_version": 2}, "template_version"),
        ("totals", {"template_version": 2}, "template_version"),
        ("series", {"template_version": 2}, "template_version"),
    ]
    for path, params, field in cases:
        r = await herald.client.get(f"/v1/analytics/{path}", params=params)
        assert r.status_code == 422, (path, r.text)
        error = r.json()["error"]
        assert (error["code"], error.get("field")) == ("template_required", field), (path, error)
    r = await herald.client.get("/v1/analytics/totals", params={"template": KEY, "template_version": 0})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error")
