"""The hosted preference page end to end, on both backends: the two ways in, what it lists,
what its form may change, and who may see it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import select

from herald.api.app import create_app
from herald.apps.service import disable_app
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.preferences.access import page_keys
from herald.preferences.models import Preference
from herald.runtime import Runtime
from tests.harness import Herald, end_user_token
from tests.preferences.pagekit import CATALOGUE, catalogue, enter, form_of, inputs, post, switches

HTML = '<p>Order {{ order_id }}.</p>{% if preferences_url %}<a href="{{ preferences_url }}">Settings</a>{% endif %}'
TEMPLATE: dict[str, Any] = {
    "channels": {"email": {"subject": "Order {{ order_id }}", "html": HTML, "text": "Prefs: {{ preferences_url }}"}}
}
LINK = re.compile(r'<a href="http://[^"]+(/preferences/m/[A-Za-z0-9_-]+)">Settings</a>')


@pytest.fixture
async def anonymous(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: no app credentials."""
    transport = httpx.ASGITransport(app=create_app(runtime.api_services()))
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as c:
        yield c


async def emailed_link(herald: Herald, user_id: str = "42", **notify: Any) -> str:
    await herald.template("prefs", TEMPLATE)
    r = await herald.notify(template="prefs", user_id=user_id, **notify)
    assert r.status_code == 202, r.text
    await herald.drain()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    [msg] = [e for e in herald.inbox.entries() if e.key == uuid.UUID(d["id"]).hex]
    found = LINK.search(msg.body["html"])
    assert found is not None, msg.body["html"]
    assert found.group(1) in msg.body["text"]  # the same link in the text part
    return found.group(1)


async def preferences(client: httpx.AsyncClient, user_id: str = "42") -> dict[str, Any]:
    r = await client.get(f"/v1/users/{user_id}/preferences")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_emailed_link_opens_the_page_of_its_user_and_saves_there(
    herald: Herald, anonymous: httpx.AsyncClient
) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    await herald.user("43", email="bob@example.com")
    link = await emailed_link(herald, category="orders")
    page = await enter(anonymous, link)
    r = await anonymous.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The catalogue in its order, every channel, all on (nothing is turned off yet).
    shown = switches(r.text)
    assert list(shown)[:4] == ["email.orders", "sms.orders", "push.orders", "in_app.orders"]
    assert shown["email.orders"] == (True, False) and shown["sms.news"] == (True, False)
    assert "Order updates" in r.text and "Shipping and delivery news" in r.text

    saved = await post(anonymous, page, form_of(r.text, {"email.orders": False}))
    assert saved.status_code == 303 and saved.headers["location"] == f"{page}?saved=1"
    after = await anonymous.get(saved.headers["location"])
    assert 'role="status"' in after.text and switches(after.text)["email.orders"] == (False, False)
    # Through the API, only the switch that moved, and for this user only.
    assert (await preferences(herald.client))["categories"] == {
        "orders": {"enabled": None, "channels": {"email": False}}
    }
    assert (await preferences(herald.client, "43"))["categories"] == {}
    # The preference holds for the next email.
    skipped = await herald.notify(template="prefs", category="orders")
    await herald.drain()
    d = (await herald.notification(skipped.json()["id"]))["deliveries"][0]
    assert (d["state"], d["reason"]) == ("skipped", "opted_out")


async def test_the_apps_token_opens_the_page_and_stays_out_of_it(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    token = await end_user_token(herald.client, "42")
    page = await enter(anonymous, f"/preferences?token={token}")
    # The page's own address carries neither the token nor the user's id (its random part may
    # hold "42" by chance, so the id is looked for as a whole path segment or query value).
    parts = urlsplit(page)
    assert token not in page
    assert "42" not in parts.path.split("/") + [v for _, v in parse_qsl(parts.query)]
    r = await anonymous.get(page)
    assert r.status_code == 200 and token not in r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in r.headers["x-robots-tag"]
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "form-action 'self'" in csp
    assert "<script" not in r.text and "http" not in r.text.split("</head>")[1]  # no external resource
    [nonce] = re.findall(r"<style nonce=\"([^\"]+)\">", r.text)
    assert f"'nonce-{nonce}'" in csp
    # Turning a category back on after an unsubscribe: the most specific rule wins.
    assert (await herald.client.put("/v1/users/42/preferences", json={"channels": {"email": False}})).status_code == 200
    r = await anonymous.get(page)
    assert switches(r.text)["email.news"] == (False, False)
    assert (await post(anonymous, page, form_of(r.text, {"email.news": True}))).status_code == 303
    prefs = await preferences(herald.client)
    assert prefs["channels"] == {"email": False}
    assert prefs["categories"] == {"news": {"enabled": None, "channels": {"email": True}}}


@pytest.mark.parametrize("token", ["", "not-a-jwt", "x" * 5000])
async def test_a_bad_app_token_is_a_page_not_a_500(anonymous: httpx.AsyncClient, token: str) -> None:
    r = await anonymous.get("/preferences", params={"token": token} if token else None)
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert "invalid_token" in r.text and r.headers["cache-control"] == "no-store"


async def test_links_that_are_not_valid_are_clear_4xx_pages(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await herald.user("42")
    token = await end_user_token(herald.client, "42")
    page = await enter(anonymous, f"/preferences?token={token}")
    flipped = page[:30] + ("A" if page[30] != "A" else "B") + page[31:]
    for bad in (flipped, "/preferences/x", page[:-4], "/preferences/m/nothing", "/preferences/m/" + page[13:]):
        r = await anonymous.get(bad)
        assert r.status_code == 404, bad
        assert "invalid_preferences_link" in r.text and r.headers["content-type"].startswith("text/html")
    # A page token past its hour.
    claim = page_keys("test-secret-key").open(page.removeprefix("/preferences/"), utcnow())
    old = page_keys("test-secret-key").seal(claim.app_id, claim.user_id, utcnow() - timedelta(hours=2))
    r = await anonymous.get(f"/preferences/{old}")
    assert r.status_code == 404 and "preferences_link_expired" in r.text
    assert (await post(anonymous, f"/preferences/{old}", [])).status_code == 404
    # A deleted user's page has nothing to show.
    assert (await herald.client.delete("/v1/users/42")).status_code in (200, 204)
    r = await anonymous.get(page)
    assert r.status_code == 404 and "user_not_found" in r.text


async def test_a_disabled_apps_page_is_not_shown(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    link = await emailed_link(herald, category="orders")
    page = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '42')}")
    fields = form_of((await anonymous.get(page)).text, {"email.orders": False})
    async with transaction(herald.runtime.sessions) as session:
        app = await disable_app(session, (await herald.client.get("/v1/end-user-key")).json()["issuer"])
    followed = await anonymous.get(link, follow_redirects=True)  # exchanged, then refused by the page
    for r in (await anonymous.get(page), await post(anonymous, page, fields), followed):
        assert r.status_code == 404 and "invalid_preferences_link" in r.text
    assert not app.active
    async with herald.runtime.sessions() as session:
        rows = (await session.scalars(select(Preference).where(Preference.app_id == app.id))).all()
    assert rows == []


async def test_another_apps_token_reaches_its_own_user_only(
    herald: Herald, other_client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    other_catalogue = {"allowed_origins": [], "categories": [{"key": "orders", "name": "Parcels"}]}
    await catalogue(other_client, other_catalogue)
    r = await other_client.put("/v1/users/42", json={"name": "Other 42", "email": "o@example.com"})
    assert r.status_code in (200, 201)
    other_page = await enter(anonymous, f"/preferences?token={await end_user_token(other_client, '42')}")
    html = (await anonymous.get(other_page)).text
    # The other app's page: its catalogue, nothing of this app's.
    assert "Parcels" in html and "Order updates" not in html and "Shop &amp; Co" not in html
    assert "email.news" not in switches(html)
    crafted = [*form_of(html, {"email.orders": False}), ("shown", "email.news")]
    assert (await post(anonymous, other_page, crafted)).status_code == 303
    assert (await preferences(other_client))["categories"] == {
        "orders": {"enabled": None, "channels": {"email": False}}
    }
    assert (await preferences(herald.client))["categories"] == {}
    # This app's own page still shows its user's switches as they were.
    mine = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '42')}")
    html = (await anonymous.get(mine)).text
    assert "Order updates" in html and switches(html)["email.orders"] == (True, False)


async def test_critical_categories_are_locked_and_a_crafted_post_changes_nothing(
    herald: Herald, anonymous: httpx.AsyncClient
) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    page = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '42')}")
    html = (await anonymous.get(page)).text
    assert switches(html)["email.security"] == (True, True)
    locked = [i for i in inputs(html) if i.get("value") == "email.security"]
    assert all("disabled" in i for i in locked) and "cannot be turned off" in html
    crafted = [*form_of(html), ("shown", "email.security"), ("shown", "sms.security")]
    assert (await post(anonymous, page, crafted)).status_code == 303
    assert (await preferences(herald.client))["categories"] == {}


async def test_a_post_without_the_pages_csrf_token_is_403(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    await herald.user("43", email="bob@example.com")
    page = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '42')}")
    other = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '43')}")
    fields = form_of((await anonymous.get(page)).text, {"email.orders": False})
    other_csrf = [v for k, v in form_of((await anonymous.get(other)).text) if k == "csrf"]
    without = [(k, v) for k, v in fields if k != "csrf"]
    for body in (
        without,
        [*without, ("csrf", "")],
        [*without, ("csrf", "x" * 43)],
        [*without, ("csrf", other_csrf[0])],
    ):
        r = await post(anonymous, page, body)
        assert r.status_code == 403 and "csrf_failed" in r.text
    assert (await preferences(herald.client))["categories"] == {}
    assert (await post(anonymous, page, fields)).status_code == 303  # the page's own: saved


async def test_branding_shows_and_any_colour_gets_readable_text(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    page = await enter(anonymous, f"/preferences?token={await end_user_token(herald.client, '42')}")
    html = (await anonymous.get(page)).text
    assert "<title>Notification preferences · Shop &amp; Co</title>" in html
    assert "--accent: #7a1fa2; --on-accent: #ffffff;" in html  # purple: white text
    pale = {**CATALOGUE, "branding": {"name": "Sunny", "colour": "#FFEE58"}}
    await catalogue(herald.client, pale)
    html = (await anonymous.get(page)).text
    assert "Sunny" in html and "--accent: #ffee58; --on-accent: #1a1a1a;" in html  # yellow: dark text
    await catalogue(herald.client, {"allowed_origins": []})
    html = (await anonymous.get(page)).text
    assert "<title>Notification preferences · app-one</title>" in html  # the app's own name, by default


async def test_the_unsubscribe_pages_link_the_preference_page(herald: Herald, anonymous: httpx.AsyncClient) -> None:
    await catalogue(herald.client)
    await herald.user("42")
    template = {"channels": {"email": {"subject": "Hi", "html": "<p>{{ order_id }}</p>"}}}
    await herald.template("plain", template)
    r = await herald.notify(template="plain", category="news")
    await herald.drain()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    [msg] = [e for e in herald.inbox.entries() if e.key == uuid.UUID(d["id"]).hex]
    unsubscribe = httpx.URL(msg.headers["List-Unsubscribe"].strip("<>")).path
    done = await anonymous.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    found = re.search(r'<a href="(/preferences/m/[A-Za-z0-9_-]+)">', done.text)
    assert done.status_code == 200 and found is not None
    page = await enter(anonymous, found.group(1))
    # The page shows what was just unsubscribed, and can turn it back on.
    html = (await anonymous.get(page)).text
    assert switches(html)["email.news"] == (False, False)
    assert (await post(anonymous, page, form_of(html, {"email.news": True}))).status_code == 303
    assert (await preferences(herald.client))["categories"]["news"]["channels"] == {"email": True}
