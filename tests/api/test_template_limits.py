"""Template limits over the API: refused at save with `invalid_template`, at intake with
`render_error`; never a 500, never a large allocation."""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import httpx
import pytest

from herald.notifications import service as notifications_service
from tests.harness import Herald, LoopTicks
from tests.templates.hostile import HOSTILE

PEAK_BYTES = 32 * 1024 * 1024


def sms(text: str, **extra: Any) -> dict[str, Any]:
    return {"channels": {"sms": {"text": text}}, **extra}


def email(text: str) -> dict[str, Any]:
    return {"channels": {"email": {"subject": "s", "text": text}}}


async def test_every_hostile_template_is_refused_at_save(client: httpx.AsyncClient) -> None:
    tracemalloc.start()
    try:
        answers = {
            name: await client.put(f"/v1/templates/{name}", json=email(source)) for name, source in HOSTILE.items()
        }
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for name, r in answers.items():
        assert r.status_code == 422, (name, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_template" and err["field"] == "channels.email.text", (name, err)
        assert err["message"], name
    assert peak < PEAK_BYTES, f"peak {peak:,} bytes"
    assert (await client.get("/v1/templates")).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channels": {"push": {"title": "t", "body": "{{ 'x' * 4000 }}"}}}, "channels.push"),
        ({"channels": {"email": {"subject": "{{ 'x' * 2001 }}", "text": "t"}}}, "channels.email.subject"),
        ({"channels": {"email": {"subject": "s", "html": "{{ 'x' * 10**6 }}!"}}}, "channels.email.html"),
        (
            {"channels": {"sms": {"text": "ok"}}, "locales": {"fr": {"sms": {"text": "{{ '😀' * 801 }}"}}}},
            "locales.fr.sms.text",
        ),
        ({"channels": {"push": {"title": "t", "body": "b", "data": {"k": "{{ 1 + }}"}}}}, "channels.push.data.k"),
    ],
)
async def test_channel_limits_at_save_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.put("/v1/templates/t", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_template" and r.json()["error"]["field"] == field


async def test_sample_data_is_stored_and_trial_rendered(client: httpx.AsyncClient) -> None:
    template = sms("{{ 'x' * n }} {{ user.name }}")
    r = await client.put("/v1/templates/t", json=template)  # n is absent: decided at send time
    assert r.status_code == 201, r.text
    assert r.json()["sample_data"] is None
    r = await client.put("/v1/templates/t", json={**template, "sample_data": {"n": 10**9}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template"
    assert "1,000,000" in r.json()["error"]["message"]
    sample = {"n": 3, "user": {"name": "Ada"}, "items": [1, 2]}
    r = await client.put("/v1/templates/t", json={**template, "sample_data": sample})
    assert r.status_code == 200 and r.json()["sample_data"] == sample
    assert (await client.get("/v1/templates/t")).json()["sample_data"] == sample
    # Every send of the template reads its content, sample included: it stays small.
    r = await client.put("/v1/templates/t", json={**template, "sample_data": {"n": 3, "pad": "x" * 20_000}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "sample_data"


async def test_missing_variables_are_not_a_save_time_error(client: httpx.AsyncClient) -> None:
    text = "{{ user.nickname|upper }} {{ price * qty }} {% for i in items %}{{ i.name }}{% endfor %}"
    r = await client.put("/v1/templates/t", json=sms(text))
    assert r.status_code == 201, r.text


async def test_a_large_template_saves_and_sends(herald: Herald) -> None:
    html = "<table>" + "<tr><td>{{ user.name }}</td><td>static cell</td></tr>\n" * 6000 + "</table>"
    body = {"channels": {"email": {"subject": "Hi {{ user.name }}", "html": html}}}
    r = await herald.client.put("/v1/templates/big", json=body)
    assert r.status_code == 201, r.text
    await herald.user()
    r = await herald.notify(template="big", data={})
    assert r.status_code == 202, r.text
    await herald.drain()
    (sent,) = herald.inbox.entries()
    assert sent.body["subject"] == "Hi Ada Lovelace" and sent.body["html"].count("Ada Lovelace</td>") == 6000


async def test_a_limit_broken_at_intake_is_a_render_error_for_that_item(herald: Herald) -> None:
    await herald.user()
    r = await herald.client.put("/v1/templates/rep", json=sms("{{ word * n }}"))
    assert r.status_code == 201, r.text
    r = await herald.notify(template="rep", channels=["sms"], data={"word": "ab", "n": 10**8})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "render_error",
        "message": r.json()["error"]["message"],
        "field": "sms.text",
    }
    inline = {"sms": {"text": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"}}
    r = await herald.notify(template=None, content=inline, channels=["sms"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "render_error"
    batch = [
        {"event_id": "ok", "user_id": "42", "template": "rep", "channels": ["sms"], "data": {"word": "ab", "n": 2}},
        {"event_id": "bad", "user_id": "42", "template": "rep", "channels": ["sms"], "data": {"word": "a", "n": 10**7}},
    ]
    r = await herald.client.post("/v1/notifications/batch", json={"notifications": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [202, 422]
    assert results[1]["error"]["code"] == "render_error"


async def test_planning_a_batch_gives_the_event_loop_turns(herald: Herald, monkeypatch: pytest.MonkeyPatch) -> None:
    await herald.user()
    await herald.template()
    seen: list[int] = []
    plan_one = notifications_service._plan_one
    items = [
        {"event_id": f"e{n}", "user_id": "42", "template": "order-shipped", "data": {"order_id": n}} for n in range(4)
    ]
    async with LoopTicks() as ticks:

        def counting(*args: Any) -> Any:
            seen.append(ticks.count)
            return plan_one(*args)

        monkeypatch.setattr(notifications_service, "_plan_one", counting)
        monkeypatch.setattr(notifications_service, "PLAN_SLICE_SECONDS", 0.0)
        r = await herald.client.post("/v1/notifications/batch", json={"notifications": items})
    assert r.status_code == 200 and r.json()["accepted"] == 4
    # Nothing else awaits between two items: only the planner's own turns let the ticker run.
    assert len(seen) == 4 and all(b > a for a, b in itertools.pairwise(seen))
