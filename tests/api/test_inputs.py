"""Hostile input: every value either fits both databases or is a 422 that names the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from herald.notifications.models import Notification
from herald.recipients.models import User
from herald.runtime import Runtime
from tests.harness import Herald

JSON = {"content-type": "application/json"}
INLINE: dict[str, Any] = {
    "recipient": {"email": "ada@example.com"},
    "content": {"email": {"subject": "Hello", "text": "Hello"}},
}


def error(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    return body


async def count(runtime: Runtime, model: type) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def nested(depth: int) -> dict[str, Any]:
    """An object `depth` levels deep, counting itself."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
async def test_json_that_is_not_strict_is_invalid_json(
    client: httpx.AsyncClient, runtime: Runtime, literal: bytes
) -> None:
    r = await client.put("/v1/users/u1", content=b'{"attributes": {"x": %s}}' % literal, headers=JSON)
    assert error(r)["code"] == "invalid_json"
    assert await count(runtime, User) == 0


async def test_a_repeated_key_keeps_its_last_value(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/users/u1", content=b'{"name": "first", "name": "last"}', headers=JSON)
    assert r.status_code == 201 and r.json()["name"] == "last"


async def test_nul_is_refused_wherever_text_arrives(herald: Herald) -> None:
    await herald.user("u1")
    put = herald.client.put
    cases = [
        (put("/v1/users/u1", content=b'{"name": "a\\u0000b"}', headers=JSON), "name"),
        (put("/v1/users/u1", content=b'{"attributes": {"k": ["ok", "\\u0000"]}}', headers=JSON), "attributes.k.1"),
        (put("/v1/users/u1", content=b'{"attributes": {"k\\u0000": 1}}', headers=JSON), "attributes"),
        (herald.client.get("/v1/users/u%00"), "user_id"),
        (herald.client.get("/v1/notifications", params={"event_id": "e\x00"}), "event_id"),
        (
            herald.client.post("/v1/notifications/batch", json={"notifications": [{"event_id": "a\x00", **INLINE}]}),
            "notifications.0.event_id",
        ),
    ]
    for request, field in cases:
        body = error(await request)
        assert (body["code"], body["field"]) == ("validation_error", field)
    assert (await herald.client.get("/v1/users/u1")).json()["name"] == "Ada Lovelace"


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"])
async def test_timestamps_without_a_utc_form_are_422(herald: Herald, instant: str) -> None:
    cases = [
        (herald.client.post("/v1/notifications", json={"event_id": "e1", "send_at": instant, **INLINE}), "send_at"),
        (herald.client.get("/v1/notifications", params={"created_after": instant}), "created_after"),
        (herald.client.get("/v1/notifications", params={"created_before": instant}), "created_before"),
        (herald.client.get("/v1/dead-letters", params={"since": instant}), "since"),
        (herald.client.post("/v1/dead-letters/replay", json={"since": instant}), "since"),
    ]
    for request, field in cases:
        body = error(await request)
        assert (body["code"], body["field"]) == ("validation_error", field)
    assert await count(herald.runtime, Notification) == 0


async def test_timestamps_at_the_ends_of_the_range_are_stored(herald: Herald) -> None:
    ids = {}
    for instant in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"):
        r = await herald.client.post("/v1/notifications", json={"event_id": instant, "send_at": instant, **INLINE})
        assert r.status_code == 202, r.text
        ids[instant] = r.json()["id"]
    for instant, nid in ids.items():
        assert (await herald.client.get(f"/v1/notifications/{nid}")).json()["send_at"] == instant
    extremes = {"created_after": "0001-01-01T00:00:00+00:00", "created_before": "9999-12-31T23:59:59+00:00"}
    page = await herald.client.get("/v1/notifications", params=extremes)
    assert page.status_code == 200 and len(page.json()["items"]) == 2
    naive = await herald.client.get("/v1/notifications", params={"created_after": "2026-01-01T00:00:00"})
    assert error(naive)["field"] == "created_after"


async def test_free_form_json_is_bounded_and_kept_within_bounds(herald: Herald) -> None:
    within = {"big": 2**63 - 1, "small": -(2**63), "fraction": 0.1, "tiny": 5e-324, "deep": nested(31)}
    r = await herald.client.put("/v1/users/u1", json={"attributes": {**within, "large": 2.0**62}})
    assert r.status_code == 201, r.text
    kept = (await herald.client.get("/v1/users/u1")).json()["attributes"]
    # PostgreSQL gives an integral float back as an integer: the same number, within range.
    assert float(kept.pop("large")) == 2.0**62 and kept == within
    for attributes, where in [
        ({"n": 2**63}, "n: number outside the signed 64-bit range"),
        ({"list": [0, -(2**64)]}, "list.1: number outside the signed 64-bit range"),
        # PostgreSQL would give it back as a 301-digit integer, which orjson cannot write.
        ({"f": 1e300}, "f: number outside the signed 64-bit range"),
        ({"deep": nested(32)}, "nested deeper than 32 levels"),  # 33 with `attributes` itself
    ]:
        body = error(await herald.client.put("/v1/users/u1", json={"attributes": attributes}))
        assert body["field"] == "attributes" and where in body["message"]
    r = await herald.client.post("/v1/notifications", json={"event_id": "e1", "data": {"n": 2**64 - 1}, **INLINE})
    assert error(r)["field"] == "data"
    assert float((await herald.client.get("/v1/users/u1")).json()["attributes"]["large"]) == 2.0**62


async def test_a_batch_item_out_of_range_is_its_own_422(herald: Herald) -> None:
    items = [
        {"event_id": "ok", **INLINE},
        {"event_id": "big", "data": {"n": 2**63}, **INLINE},
        {"event_id": "old", "send_at": "0001-01-01T00:00:00+01:00", **INLINE},
    ]
    r = await herald.client.post("/v1/notifications/batch", json={"notifications": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [it["status"] for it in results] == [202, 422, 422]
    assert [it["error"]["field"] for it in results[1:]] == ["data", "send_at"]
    assert await count(herald.runtime, Notification) == 1


async def test_integers_are_bounded_by_their_column(client: httpx.AsyncClient) -> None:
    for priority in (2**31, -(2**31) - 1):
        r = await client.put("/v1/integrations/x", json={"kind": "smtp", "priority": priority, "config": {}})
        assert error(r)["field"] == "priority"


async def test_list_filters_refuse_unknown_values(herald: Herald) -> None:
    r = await herald.notify(user_id=None, template=None, event_id="e1", **INLINE)
    assert r.status_code == 202, r.text
    queued = await herald.client.get("/v1/notifications", params={"state": "queued"})
    assert [n["event_id"] for n in queued.json()["items"]] == ["e1"]
    for path, params in [
        ("/v1/notifications", {"state": "nonsense"}),
        ("/v1/dead-letters", {"channel": "pigeon"}),
        ("/v1/notifications", {"limit": "1000"}),
        ("/v1/notifications", {"cursor": "not-a-cursor"}),
    ]:
        body = error(await herald.client.get(path, params=params))
        assert body["field"] == next(iter(params))
