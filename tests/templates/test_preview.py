"""Previews and test sends over the API."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.harness import EMAIL_TEMPLATE, Herald


def by(messages: list[dict[str, Any]], channel: str, locale: str | None = None) -> dict[str, Any]:
    (found,) = [m for m in messages if m["channel"] == channel and m["locale"] == locale]
    return found


async def test_preview_renders_every_channel_and_locale_with_the_sample_data(client: httpx.AsyncClient) -> None:
    body = {**EMAIL_TEMPLATE, "sample_data": {"order_id": 41, "user": {"name": "Sam"}}}
    assert (await client.put("/v1/templates/t/draft", json=body)).status_code == 201
    r = await client.post("/v1/templates/t/preview", json={})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == 1 and out["problems"] == 0
    assert [(m["locale"], m["channel"]) for m in out["messages"]] == [
        (None, "email"),
        (None, "sms"),
        (None, "push"),
        ("fr", "email"),
    ]
    assert by(out["messages"], "email")["rendered"]["subject"] == "Order 41 shipped"
    assert by(out["messages"], "email", "fr")["rendered"]["text"] == "Bonjour Sam"
    assert by(out["messages"], "sms")["sms"] == {"encoding": "gsm7", "units": 16, "segments": 1}
    assert by(out["messages"], "push")["push"]["limit"] == 4096
    # Given data wins over the sample.
    r = await client.post("/v1/templates/t/preview", json={"data": {"order_id": 5}})
    assert by(r.json()["messages"], "sms")["rendered"] == {"text": "Order 5 shipped"}


async def test_preview_reports_undefined_variables_by_name_and_field(client: httpx.AsyncClient) -> None:
    body = {"channels": {"sms": {"text": "Hi {{ first_name }}, {{ order.total }} due {{ due_date }}"}}}
    await client.put("/v1/templates/t", json=body)
    r = await client.post("/v1/templates/t/preview", json={"version": "live", "data": {"order": {"id": 1}}})
    assert r.status_code == 200, r.text
    sms = by(r.json()["messages"], "sms")
    assert sms["rendered"] == {"text": "Hi ,  due "}
    [problem] = sms["problems"]
    assert problem["kind"] == "undefined_variable" and problem["field"] == "sms.text"
    assert problem["names"] == ["first_name", "total", "due_date"]
    assert r.json()["problems"] == 1


async def test_preview_reports_a_variable_only_where_a_send_would_refuse_it(herald: Herald) -> None:
    guarded = "{% if coupon is defined %}Use {{ coupon }}. {% endif %}{{ note | default('Thanks') }}"
    body = {"channels": {"sms": {"text": guarded}, "email": {"subject": "Hi {{ coupon }}", "text": "x"}}}
    await herald.client.put("/v1/templates/t", json=body)
    r = await herald.client.post("/v1/templates/t/preview", json={"version": "live", "data": {}})
    assert r.status_code == 200, r.text
    sms, email = by(r.json()["messages"], "sms"), by(r.json()["messages"], "email")
    assert sms["rendered"] == {"text": "Thanks"} and sms["problems"] == []
    assert [(p["kind"], p["field"], p["names"]) for p in email["problems"]] == [
        ("undefined_variable", "email.subject", ["coupon"])
    ]
    # The send agrees: the guarded SMS goes, the plain variable is refused.
    await herald.user()
    sent = await herald.notify(template="t", channels=["sms"], data={})
    assert sent.status_code == 202, sent.text
    refused = await herald.notify(template="t", channels=["email"], data={})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "missing_variable"
    r = await herald.client.post("/v1/templates/t/preview", json={"version": "live", "data": {"coupon": "C1"}})
    assert by(r.json()["messages"], "sms")["rendered"] == {"text": "Use C1. Thanks"} and r.json()["problems"] == 0


async def test_preview_counts_ucs2_segments_and_reports_an_oversized_push(client: httpx.AsyncClient) -> None:
    body = {
        "channels": {
            "sms": {"text": "Привет {{ name }}! " * 6},
            "push": {"title": "{{ big }}", "body": "{{ big }}", "data": {"k": "{{ big }}"}},
        }
    }
    await client.put("/v1/templates/t", json=body)
    r = await client.post("/v1/templates/t/preview", json={"version": 1, "data": {"name": "Аня", "big": "x" * 1500}})
    assert r.status_code == 200, r.text
    sms = by(r.json()["messages"], "sms")
    units = len("Привет Аня! ") * 6
    assert sms["sms"] == {"encoding": "ucs2", "units": units, "segments": -(-units // 67)} and sms["problems"] == []
    push = by(r.json()["messages"], "push")
    assert push["rendered"] is None
    assert [(p["kind"], p["field"]) for p in push["problems"]] == [("limit", "push")]
    assert push["push"]["bytes"] > push["push"]["limit"] == 4096


async def test_preview_of_unsaved_content_reports_what_does_not_compile(client: httpx.AsyncClient) -> None:
    inline = {"channels": {"email": {"subject": "Hi {{ name ", "text": "Hello {{ name }}"}}}
    r = await client.post("/v1/templates/never-saved/preview", json={"template": inline, "data": {"name": "Al"}})
    assert r.status_code == 200, r.text
    email = by(r.json()["messages"], "email")
    assert email["rendered"] is None
    assert [(p["kind"], p["field"]) for p in email["problems"]] == [("invalid_template", "email.subject")]
    assert r.json()["version"] is None
    r = await client.post("/v1/templates/never-saved/preview", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "draft_not_found"


async def test_preview_for_a_stored_user(herald: Herald) -> None:
    await herald.user("u1", name="Grace", attributes={"plan": "gold"})
    body = {"channels": {"sms": {"text": "{{ user.name }} is on {{ user.plan }}"}}}
    await herald.client.put("/v1/templates/t", json=body)
    r = await herald.client.post("/v1/templates/t/preview", json={"version": "live", "user_id": "u1"})
    assert by(r.json()["messages"], "sms")["rendered"] == {"text": "Grace is on gold"}
    r = await herald.client.post("/v1/templates/t/preview", json={"version": "live", "user_id": "nobody"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"


async def test_a_test_send_delivers_the_draft_through_the_normal_path(herald: Herald) -> None:
    await herald.template()
    draft: dict[str, Any] = copy.deepcopy(EMAIL_TEMPLATE)
    draft["channels"]["email"] = {"subject": "Draft {{ order_id }}", "text": "t"}
    assert (await herald.client.put("/v1/templates/order-shipped/draft", json=draft)).status_code == 201
    r = await herald.client.post(
        "/v1/templates/order-shipped/test-send",
        json={"channel": "email", "to": "QA@Example.com", "data": {"order_id": 9}},
    )
    assert r.status_code == 202, r.text
    sent = r.json()
    assert sent["template"] is None and sent["category"] == "herald:test-send"
    assert [d["template_version"] for d in sent["deliveries"]] == [2]
    r = await herald.client.post(
        "/v1/templates/order-shipped/test-send",
        json={"channel": "email", "to": "qa@example.com", "version": "live", "data": {"order_id": 9}},
    )
    assert r.status_code == 202, r.text
    await herald.drain()
    entries = herald.inbox.entries(provider="smtp", destination="qa@example.com")
    assert sorted(e.body["subject"] for e in entries) == ["Draft 9", "Order 9 shipped"]
    shown = await herald.notification(sent["id"])
    assert [(d["state"], d["template_version"]) for d in shown["deliveries"]] == [("delivered", 2)]
    # The live version still sends what it did.
    assert (await herald.client.get("/v1/templates/order-shipped")).json()["version"] == 1


async def test_a_test_sms_in_a_locale(herald: Herald) -> None:
    body = {"channels": {"sms": {"text": "Hi {{ who }}"}}, "locales": {"de": {"sms": {"text": "Hallo {{ who }}"}}}}
    await herald.client.put("/v1/templates/t", json=body)
    r = await herald.client.post(
        "/v1/templates/t/test-send",
        json={"channel": "sms", "to": "+14155550123", "version": "live", "locale": "de", "data": {"who": "Bo"}},
    )
    assert r.status_code == 202, r.text
    r = await herald.client.post(
        "/v1/templates/t/test-send", json={"channel": "email", "to": "a@example.com", "version": "live"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_content"
