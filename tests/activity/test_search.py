"""The log's search: each filter returns exactly the notifications it names, newest first, of
the calling app only; filters combine; the cursor pages through any of them; bad values are
4xx."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.activity.conftest import Seeded
from tests.harness import Herald


async def found(client: httpx.AsyncClient, **params: Any) -> list[uuid.UUID]:
    r = await client.get("/v1/notifications", params=params)
    assert r.status_code == 200, r.text
    return [uuid.UUID(item["id"]) for item in r.json()["items"]]


def names(seeded: Seeded, ids: list[uuid.UUID]) -> list[str]:
    by_id = {v: k for k, v in seeded.ids.items()}
    return [by_id.get(i, f"unknown {i}") for i in ids]


CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["n4", "n3", "n2", "n1"]),
    ({"user_id": "42"}, ["n3", "n1"]),
    ({"user_id": "43"}, ["n2"]),
    ({"template": "welcome"}, ["n3", "n2"]),
    ({"template": "order-shipped"}, ["n1"]),
    ({"template": "nope"}, []),
    ({"category": "orders"}, ["n4", "n1"]),
    ({"category": "marketing"}, ["n2"]),
    ({"state": "delivered"}, ["n4", "n2", "n1"]),
    ({"state": "failed"}, ["n2"]),
    ({"state": "queued"}, ["n3"]),
    ({"channel": "sms"}, ["n3", "n2"]),
    ({"channel": "email"}, ["n4", "n2", "n1"]),
    ({"channel": "push"}, []),
    ({"provider": "smtp"}, ["n4", "n1"]),
    ({"provider": "twilio"}, ["n2"]),
    ({"provider": "sendgrid"}, ["n2"]),
    # Combined: all must hold; the delivery filters hold on one and the same delivery.
    ({"template": "welcome", "channel": "sms"}, ["n3", "n2"]),
    ({"template": "welcome", "state": "delivered"}, ["n2"]),
    ({"channel": "email", "state": "failed"}, ["n2"]),
    ({"channel": "sms", "state": "failed"}, []),
    ({"channel": "email", "provider": "twilio"}, []),
    ({"user_id": "42", "category": "orders", "provider": "smtp"}, ["n1"]),
    ({"category": "orders", "template": "order-shipped"}, ["n1"]),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(p) for p, _ in CASES])
async def test_each_filter_finds_exactly_its_notifications_of_this_app(
    herald: Herald, other_client: httpx.AsyncClient, seeded: Seeded, params: dict[str, Any], expected: list[str]
) -> None:
    assert names(seeded, await found(herald.client, **params)) == expected


async def test_event_id_and_another_apps_view(herald: Herald, other_client: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await herald.client.get(f"/v1/notifications/{seeded.ids['n2']}")
    event_id = r.json()["event_id"]
    assert names(seeded, await found(herald.client, event_id=event_id)) == ["n2"]
    # The other app sees its own o1 for n2's filters, and never this app's.
    for params in ({}, {"template": "welcome"}, {"channel": "sms"}, {"provider": "twilio"}, {"user_id": "43"}):
        assert names(seeded, await found(other_client, **params)) == ["o1"]
    assert await found(other_client, event_id=event_id) == []
    assert await found(other_client, provider="smtp") == []


async def test_time_range_is_exact_at_its_bounds(herald: Herald, seeded: Seeded) -> None:
    at = seeded.created
    after = {"created_after": at["n2"].isoformat()}
    assert names(seeded, await found(herald.client, **after)) == ["n4", "n3", "n2"]
    window = {"created_after": at["n2"].isoformat(), "created_before": at["n4"].isoformat()}
    assert names(seeded, await found(herald.client, **window)) == ["n3", "n2"]
    assert names(seeded, await found(herald.client, channel="sms", **window)) == ["n3", "n2"]
    assert names(seeded, await found(herald.client, provider="twilio", **window)) == ["n2"]
    later = (at["n4"] + timedelta(microseconds=1)).isoformat()
    assert await found(herald.client, created_after=later) == []
    # Far outside the range ids can hold: the ends are open, not an error.
    wide = {"created_after": "0001-01-01T00:00:00Z", "created_before": "9999-12-31T23:59:59.999Z"}
    assert names(seeded, await found(herald.client, **wide)) == ["n4", "n3", "n2", "n1"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 1}, {"limit": 1, "channel": "email"}, {"limit": 1, "category": "orders", "provider": "smtp"}],
    ids=["all", "channel", "category+provider"],
)
async def test_the_cursor_pages_through_a_filtered_search(
    herald: Herald, seeded: Seeded, params: dict[str, Any]
) -> None:
    whole = await found(herald.client, **{k: v for k, v in params.items() if k != "limit"})
    pages: list[uuid.UUID] = []
    cursor = None
    for _ in range(10):
        query = params | ({"cursor": cursor} if cursor else {})
        page = (await herald.client.get("/v1/notifications", params=query)).json()
        pages += [uuid.UUID(i["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == whole and len(whole) >= 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "nonsense"}, "state"),
        ({"channel": "fax"}, "channel"),
        ({"provider": ""}, "provider"),
        ({"provider": "p" * 33}, "provider"),
        ({"template": "t" * 201}, "template"),
        ({"created_after": "2026-12-01T00:00:00"}, "created_after"),
        ({"created_after": "2026-12-02T00:00:00Z", "created_before": "2026-12-01T00:00:00Z"}, "created_before"),
        ({"cursor": "zz"}, "cursor"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_filter_values_are_422_naming_the_field(herald: Herald, params: dict[str, Any], field: str) -> None:
    for path in ("/v1/notifications", "/v1/notifications/export.csv"):
        r = await herald.client.get(path, params=params)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"]["field"] == field, r.text
