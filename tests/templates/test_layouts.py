"""Layouts: email html extending an app's layout, and a layout's publish reaching the sends."""

from __future__ import annotations

import httpx

from tests.harness import Herald

LAYOUT = "<header>{{ brand }} {{ edition }}</header>{% block body %}default{% endblock %}<footer>bye</footer>"
CHILD = {
    "tracking": {"opens": False, "clicks": False},
    "channels": {
        "email": {
            "subject": "News",
            "html": '{% extends "base" %}{% block body %}<p>Hi {{ user.name }}</p>{% endblock %}',
        }
    },
    "locales": {
        "fr": {"email": {"subject": "Nouvelles", "html": '{% extends "base" %}{% block body %}Salut{% endblock %}'}}
    },
}


async def sent_html(herald: Herald) -> list[str]:
    return [e.body["html"] for e in herald.inbox.entries(provider="smtp")]


async def test_an_email_extends_the_live_layout_and_a_layout_publish_reaches_the_next_send(herald: Herald) -> None:
    await herald.user()
    r = await herald.client.put("/v1/layouts/base", json={"html": LAYOUT, "description": "frame"})
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    assert (await herald.client.put("/v1/templates/news", json=CHILD)).status_code == 201
    # The author's content comes back as written, without the layout copied into it.
    assert (await herald.client.get("/v1/templates/news")).json()["channels"] == CHILD["channels"]

    data = {"brand": "Acme", "edition": "one"}
    assert (await herald.notify(template="news", data=data)).status_code == 202
    await herald.drain()
    assert await sent_html(herald) == ["<header>Acme one</header><p>Hi Ada Lovelace</p><footer>bye</footer>"]

    draft = {"html": LAYOUT.replace("<footer>bye</footer>", "<footer>see you</footer>")}
    assert (await herald.client.put("/v1/layouts/base/draft", json=draft)).status_code == 201
    await herald.notify(template="news", data=data)
    await herald.drain()
    assert (await sent_html(herald))[-1].endswith("<footer>bye</footer>")  # a draft is not live

    r = await herald.client.post("/v1/layouts/base/publish")
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    await herald.notify(template="news", data=data)
    await herald.user("fr-user", email="fr@example.com", locale="fr")
    await herald.notify(template="news", data=data, user_id="fr-user")
    await herald.drain()
    assert (await sent_html(herald))[-2:] == [
        "<header>Acme one</header><p>Hi Ada Lovelace</p><footer>see you</footer>",
        "<header>Acme one</header>Salut<footer>see you</footer>",
    ]
    # The template's own version did not change: its content did not.
    assert (await herald.client.get("/v1/templates/news")).json()["version"] == 1


async def test_a_template_cannot_go_live_on_a_layout_that_is_not(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/templates/news", json=CHILD)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template", r.text
    assert r.json()["error"]["field"] == "channels.email.html"
    assert (await client.put("/v1/templates/news/draft", json=CHILD)).status_code == 201  # a draft may wait
    r = await client.post("/v1/templates/news/publish")
    assert r.status_code == 422 and "not published" in r.json()["error"]["message"]
    assert (await client.put("/v1/layouts/base/draft", json={"html": LAYOUT})).status_code == 201
    assert (await client.post("/v1/templates/news/publish")).status_code == 422  # a layout's draft is not live
    assert (await client.post("/v1/layouts/base/publish")).status_code == 200
    assert (await client.post("/v1/templates/news/publish")).status_code == 200


async def test_what_a_layout_and_extends_may_not_do(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/layouts/inner", json={"html": '{% extends "base" %}'})
    assert r.status_code == 422 and r.json()["error"]["field"] == "html"
    r = await client.put("/v1/layouts/broken", json={"html": "{% block x %}"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template"
    assert (await client.put("/v1/layouts/base", json={"html": LAYOUT})).status_code == 201
    for email in [
        {"subject": '{% extends "base" %}', "text": "x"},  # only an html body extends
        {"subject": "x", "html": "{% extends name %}"},  # a layout is named in quotes
    ]:
        r = await client.put("/v1/templates/t", json={"channels": {"email": email}})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template", r.text
    r = await client.put("/v1/layouts/base", json={"html": ""})
    assert r.status_code == 422


async def test_one_app_cannot_extend_another_apps_layout(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    assert (await client.put("/v1/layouts/base", json={"html": LAYOUT})).status_code == 201
    r = await other_client.put("/v1/templates/news", json=CHILD)
    assert r.status_code == 422 and "not published" in r.json()["error"]["message"]
    r = await other_client.post("/v1/templates/x/preview", json={"template": CHILD})
    email = next(m for m in r.json()["messages"] if m["channel"] == "email" and m["locale"] is None)
    assert email["rendered"] is None and email["problems"][0]["kind"] == "render_error"


async def test_layout_history_diff_restore_and_preview(client: httpx.AsyncClient) -> None:
    await client.put("/v1/layouts/base", json={"html": LAYOUT})
    await client.put("/v1/layouts/base", json={"html": LAYOUT.replace("bye", "ciao")})
    history = (await client.get("/v1/layouts/base/versions")).json()
    assert [(v["number"], v["state"]) for v in history] == [(2, "published"), (1, "archived")]
    diff = (await client.get("/v1/layouts/base/versions/1/diff/2")).json()
    assert [f["field"] for f in diff["fields"]] == ["html"] and "+<header>" in diff["fields"][0]["diff"]
    r = await client.post("/v1/layouts/base/versions/1/restore")
    assert r.status_code == 200 and r.json()["restored_from"] == 1 and r.json()["html"] == LAYOUT
    assert (await client.delete("/v1/layouts/base/draft")).status_code == 204
    assert [layout["key"] for layout in (await client.get("/v1/layouts")).json()] == ["base"]

    await client.put("/v1/templates/news", json=CHILD)
    r = await client.post("/v1/templates/news/preview", json={"version": "live", "data": {"brand": "B"}})
    email = next(m for m in r.json()["messages"] if m["channel"] == "email" and m["locale"] is None)
    assert email["rendered"]["html"] == "<header>B </header><p>Hi </p><footer>ciao</footer>"
    assert {name for p in email["problems"] for name in p["names"]} == {"edition", "name"}
