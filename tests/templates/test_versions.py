"""Template versions over the API: drafts, publishing, history, restore and diff."""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx

from tests.harness import EMAIL_TEMPLATE, Herald


def edited(subject: str) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(EMAIL_TEMPLATE)
    body["channels"]["email"]["subject"] = subject
    return body


async def sent_subjects(herald: Herald) -> list[str]:
    return [e.body["subject"] for e in herald.inbox.entries(provider="smtp")]


async def test_a_send_uses_the_live_version_while_a_draft_waits(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.client.put("/v1/templates/order-shipped/draft", json=edited("Draft {{ order_id }}"))
    assert r.status_code == 201, r.text
    assert (r.json()["number"], r.json()["state"]) == (2, "draft")
    assert (await herald.client.get("/v1/templates/order-shipped")).json()["version"] == 1

    first = await herald.notify()
    assert first.status_code == 202, first.text
    assert [d["template_version"] for d in first.json()["deliveries"]] == [1]
    await herald.drain()
    assert await sent_subjects(herald) == ["Order 7 shipped"]

    r = await herald.client.post("/v1/templates/order-shipped/publish")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["channels"]["email"]["subject"] == "Draft {{ order_id }}"
    second = await herald.notify()
    await herald.drain()
    assert await sent_subjects(herald) == ["Order 7 shipped", "Draft 7"]
    shown = await herald.notification(second.json()["id"])
    assert [d["template_version"] for d in shown["deliveries"]] == [2]


async def test_publishing_needs_a_draft_and_discarding_one_leaves_the_live_version(client: httpx.AsyncClient) -> None:
    assert (await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)).status_code == 201
    r = await client.post("/v1/templates/t/publish")
    assert r.status_code == 404 and r.json()["error"]["code"] == "draft_not_found"
    assert (await client.put("/v1/templates/t/draft", json=edited("second"))).status_code == 201
    r = await client.put("/v1/templates/t/draft", json=edited("second, again"))
    assert r.status_code == 200 and r.json()["number"] == 2  # the same draft, edited
    assert (await client.get("/v1/templates/t/draft")).json()["channels"]["email"]["subject"] == "second, again"
    assert (await client.delete("/v1/templates/t/draft")).status_code == 204
    r = await client.get("/v1/templates/t/draft")
    assert r.status_code == 404 and r.json()["error"]["code"] == "draft_not_found"
    live = (await client.get("/v1/templates/t")).json()
    assert live["version"] == 1 and live["channels"]["email"]["subject"] == "Order {{ order_id }} shipped"


async def test_a_draft_only_template_cannot_be_sent_until_published(herald: Herald) -> None:
    await herald.user()
    assert (await herald.client.put("/v1/templates/new/draft", json=EMAIL_TEMPLATE)).status_code == 201
    assert (await herald.client.get("/v1/templates/new")).status_code == 404
    r = await herald.notify(template="new")
    assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found"
    assert (await herald.client.post("/v1/templates/new/publish")).status_code == 200
    assert (await herald.notify(template="new")).status_code == 202


async def test_history_records_who_made_and_published_each_version(client: httpx.AsyncClient) -> None:
    await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)
    await client.put("/v1/templates/t/draft", json=edited("two"))
    await client.post("/v1/templates/t/publish")
    await client.put("/v1/templates/t/draft", json=edited("three"))
    r = await client.get("/v1/templates/t/versions")
    assert r.status_code == 200, r.text
    history = r.json()
    assert [(v["number"], v["state"]) for v in history] == [(3, "draft"), (2, "published"), (1, "archived")]
    me = f"app:{_key(client)}"
    assert {v["created_by"] for v in history} == {me}
    assert [v["published_by"] for v in history] == [None, me, me]
    assert history[1]["published_at"] >= history[2]["published_at"]


def _key(client: httpx.AsyncClient) -> str:
    """The app key the client authenticates with."""
    auth = client.auth
    assert isinstance(auth, httpx.BasicAuth)
    return base64.b64decode(auth._auth_header.split()[1]).decode().split(":")[0]


async def test_restore_makes_an_old_version_the_draft_and_diff_shows_each_field(client: httpx.AsyncClient) -> None:
    await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)
    await client.put("/v1/templates/t", json=edited("Second subject"))
    r = await client.post("/v1/templates/t/versions/1/restore")
    assert r.status_code == 200, r.text
    draft = r.json()
    assert (draft["number"], draft["state"], draft["restored_from"]) == (3, "draft", 1)
    assert draft["channels"] == EMAIL_TEMPLATE["channels"] and draft["locales"] == EMAIL_TEMPLATE["locales"]
    assert (await client.get("/v1/templates/t")).json()["version"] == 2  # still live: restoring is not publishing

    r = await client.get("/v1/templates/t/versions/1/diff/2")
    assert r.status_code == 200, r.text
    diff = r.json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert [f["field"] for f in diff["fields"]] == ["channels.email.subject"]
    text = diff["fields"][0]["diff"]
    assert "-Order {{ order_id }} shipped" in text and "+Second subject" in text and "v1/channels.email.subject" in text
    assert (await client.get("/v1/templates/t/versions/1/diff/3")).json()["fields"] == []
    r = await client.get("/v1/templates/t/versions/9/diff/1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "version_not_found"
    r = await client.get("/v1/templates/t/versions/2")
    assert r.status_code == 200 and r.json()["channels"]["email"]["subject"] == "Second subject"


async def test_put_keeps_a_pending_draft(client: httpx.AsyncClient) -> None:
    await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)
    await client.put("/v1/templates/t/draft", json=edited("draft"))
    r = await client.put("/v1/templates/t", json=edited("live now"))
    assert r.status_code == 200 and r.json()["version"] == 3
    assert (await client.get("/v1/templates/t/draft")).json()["channels"]["email"]["subject"] == "draft"
    assert (await client.delete("/v1/templates/t")).status_code == 204
    assert (await client.get("/v1/templates/t/versions")).status_code == 404


async def test_one_app_cannot_reach_another_apps_templates(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)
    await client.put("/v1/templates/t/draft", json=edited("secret"))
    await client.put("/v1/layouts/base", json={"html": "<div>{% block body %}{% endblock %}</div>"})
    for method, path, body in [
        ("GET", "/v1/templates/t/versions", None),
        ("GET", "/v1/templates/t/versions/1", None),
        ("GET", "/v1/templates/t/draft", None),
        ("GET", "/v1/templates/t/versions/1/diff/2", None),
        ("POST", "/v1/templates/t/publish", None),
        ("POST", "/v1/templates/t/versions/1/restore", None),
        ("DELETE", "/v1/templates/t/draft", None),
        ("POST", "/v1/templates/t/preview", {}),
        ("POST", "/v1/templates/t/test-send", {"channel": "email", "to": "x@example.com"}),
        ("GET", "/v1/layouts/base", None),
        ("GET", "/v1/layouts/base/versions", None),
        ("POST", "/v1/layouts/base/publish", None),
    ]:
        r = await other_client.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
    # Nothing the other app tried changed anything here.
    assert (await client.get("/v1/templates/t/draft")).json()["channels"]["email"]["subject"] == "secret"
    assert (await client.get("/v1/templates/t")).json()["version"] == 1
    assert (await other_client.get("/v1/layouts")).json() == []


async def test_bad_input_is_a_4xx_with_a_code(client: httpx.AsyncClient) -> None:
    await client.put("/v1/templates/t", json=EMAIL_TEMPLATE)
    bad = {"channels": {"email": {"subject": "Hi {{ name ", "text": "x"}}}
    r = await client.put("/v1/templates/t/draft", json=bad)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template"
    assert r.json()["error"]["field"] == "channels.email.subject"
    for path, body in [
        ("/v1/templates/t/preview", {"version": 0}),
        ("/v1/templates/t/preview", {"version": "newest"}),
        ("/v1/templates/t/preview", {"unknown": 1}),
        ("/v1/templates/t/test-send", {"channel": "fax", "to": "x@example.com"}),
        ("/v1/templates/t/test-send", {"channel": "email"}),
        ("/v1/templates/t/test-send", {"channel": "email", "to": "x@example.com", "user_id": "42"}),
        ("/v1/templates/t/test-send", {"channel": "email", "to": "not an address", "version": "live"}),
        ("/v1/templates/t/test-send", {"channel": "push", "to": "token", "version": "live"}),
    ]:
        r = await client.post(path, json=body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["error"]["code"] in ("validation_error", "invalid_email"), r.text
    r = await client.get("/v1/templates/t/versions/2147483648")
    assert r.status_code == 422
    r = await client.post("/v1/templates/t/test-send", json={"channel": "email", "to": "x@example.com"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "draft_not_found"
