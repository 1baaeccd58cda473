"""Accepting notifications: 202 after commit, dedup, bad input leaves nothing half-written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from herald.notifications.models import Delivery, Notification
from herald.runtime import Runtime
from tests.harness import Herald


async def rows(runtime: Runtime) -> tuple[int, int]:
    async with runtime.sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Notification))
        d = await s.scalar(select(func.count()).select_from(Delivery))
    return int(n or 0), int(d or 0)


async def test_accept_commits_before_answering(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(event_id="order-7", channels=["email", "sms"])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["event_id"] == "order-7" and body["status"] == "processing"
    assert sorted(d["channel"] for d in body["deliveries"]) == ["email", "sms"]
    assert all(d["state"] == "queued" for d in body["deliveries"])
    assert await rows(herald.runtime) == (1, 2)


async def test_repeated_event_id_answers_200_and_creates_nothing(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    first = await herald.notify(event_id="e1")
    again = await herald.notify(event_id="e1", data={"order_id": 8})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    # A repeat is a duplicate even where it would now be rejected: the log already holds it.
    invalid = await herald.notify(event_id="e1", template="no-such-template")
    assert invalid.status_code == 200 and invalid.json()["id"] == first.json()["id"]
    assert await rows(herald.runtime) == (1, 1)


async def test_rejections_have_codes_and_write_nothing(herald: Herald, other_client: httpx.AsyncClient) -> None:
    await herald.user()
    await herald.template()
    await other_client.put("/v1/users/theirs", json={"email": "t@example.com"})
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"template": "nope"}, 404, "template_not_found"),
        ({"data": {}}, 422, "missing_variable"),
        ({"user_id": "theirs"}, 404, "user_not_found"),
        ({"user_id": None}, 422, "no_recipient"),
        ({"user_id": None, "recipient": {"email": "bad@"}}, 422, "invalid_email"),
        ({"user_id": None, "recipient": {"phone": "+999"}, "channels": ["sms"]}, 422, "invalid_phone"),
        ({"template": None}, 422, "no_content"),
        ({"channels": ["fax"]}, 422, "validation_error"),
        ({"send_at": "2030-01-01T00:00:00"}, 422, "validation_error"),  # naive: rejected
        ({"event_id": ""}, 422, "validation_error"),
    ]
    for extra, status, code in cases:
        r = await herald.notify(**extra)
        assert r.status_code == status, (extra, r.text)
        assert r.json()["error"]["code"] == code, (extra, r.text)
    assert await rows(herald.runtime) == (0, 0)


async def test_missing_variable_names_the_field(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(data={"order": 1})
    err = r.json()["error"]
    assert err["code"] == "missing_variable" and err["field"] == "email.subject"
    assert "order_id" in err["message"]


async def test_inline_recipient_and_content(herald: Herald) -> None:
    r = await herald.client.post(
        "/v1/notifications",
        json={
            "event_id": "inline-1",
            "recipient": {"email": "guest@example.com"},
            "content": {"email": {"subject": "Hello {{ who }}", "text": "x"}},
            "data": {"who": "guest"},
        },
    )
    assert r.status_code == 202, r.text
    assert [d["channel"] for d in r.json()["deliveries"]] == ["email"]


async def test_channel_without_address_is_skipped_no_address(herald: Herald) -> None:
    await herald.user(phone=None)
    await herald.template()
    r = await herald.notify(channels=["email", "sms", "push"])
    states = {d["channel"]: (d["state"], d["reason"]) for d in r.json()["deliveries"]}
    assert states == {"email": ("queued", None), "sms": ("skipped", "no_address"), "push": ("skipped", "no_address")}


async def test_batch_per_item_results(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    items = [
        {
            "event_id": "b1",
            "user_id": "42",
            "template": "order-shipped",
            "data": {"order_id": 1},
            "channels": ["email"],
        },
        {"event_id": "b2", "user_id": "42", "template": "nope"},
        {
            "event_id": "b1",
            "user_id": "42",
            "template": "order-shipped",
            "data": {"order_id": 1},
            "channels": ["email"],
        },
        {
            "event_id": "b3",
            "user_id": "42",
            "template": "order-shipped",
            "data": {"order_id": 3},
            "channels": ["email"],
            "bogus": 1,
        },
        {
            "event_id": "b4",
            "user_id": "42",
            "template": "order-shipped",
            "data": {"order_id": 4},
            "channels": ["email"],
        },
    ]
    r = await herald.client.post("/v1/notifications/batch", json={"notifications": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [it["status"] for it in body["results"]] == [202, 404, 200, 422, 202]
    assert body["results"][1]["error"]["code"] == "template_not_found"
    assert body["results"][2]["notification"]["id"] == body["results"][0]["notification"]["id"]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 2)
    assert await rows(herald.runtime) == (2, 2)


async def test_batch_too_large_and_body_too_large(herald: Herald) -> None:
    item = {"event_id": "x", "user_id": "42", "template": "t"}
    r = await herald.client.post("/v1/notifications/batch", json={"notifications": [item] * 1001})
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
    big = {"notifications": [{"event_id": "y", "data": {"blob": "x" * 3_000_000}}]}
    r = await herald.client.post("/v1/notifications/batch", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = await herald.client.post(
        "/v1/notifications", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"
    assert await rows(herald.runtime) == (0, 0)


async def test_get_and_list_with_cursor(herald: Herald, other_client: httpx.AsyncClient) -> None:
    await herald.user()
    await herald.template()
    ids = [(await herald.notify(event_id=f"e{i}", category="orders" if i % 2 else None)).json()["id"] for i in range(5)]
    got = await herald.notification(ids[0])
    assert got["deliveries"][0]["attempt_log"] == []
    assert (await other_client.get(f"/v1/notifications/{ids[0]}")).status_code == 404
    page1 = (await herald.client.get("/v1/notifications", params={"limit": 3})).json()
    assert [n["id"] for n in page1["items"]] == ids[::-1][:3]
    page2 = (await herald.client.get("/v1/notifications", params={"limit": 3, "cursor": page1["next_cursor"]})).json()
    assert [n["id"] for n in page2["items"]] == ids[::-1][3:] and page2["next_cursor"] is None
    orders = (await herald.client.get("/v1/notifications", params={"category": "orders"})).json()
    assert len(orders["items"]) == 2
    assert (await other_client.get("/v1/notifications")).json()["items"] == []
    assert (await herald.client.get("/v1/notifications", params={"cursor": "zz"})).status_code == 422


async def test_accepting_runs_nothing_in_the_thread_pool(herald: Herald, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dependency and endpoint on the hot path is async: a sync one is a thread hand-off
    per request."""
    import fastapi.dependencies.utils
    import fastapi.routing

    await herald.user()
    await herald.template()
    calls: list[str] = []
    for module in (fastapi.dependencies.utils, fastapi.routing):
        original = module.run_in_threadpool

        async def counting(func: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(getattr(func, "__name__", repr(func)))
            return await _original(func, *args, **kwargs)

        monkeypatch.setattr(module, "run_in_threadpool", counting)
    assert (await herald.notify()).status_code == 202
    items = [
        {"event_id": f"tp{i}", "user_id": "42", "template": "order-shipped", "data": {"order_id": i}} for i in range(2)
    ]
    assert (await herald.client.post("/v1/notifications/batch", json={"notifications": items})).status_code == 200
    assert calls == []
