"""Opens, clicks and unsubscribes end to end: a real send through the SMTP sandbox, then the
recipient's requests to the public endpoints, on both backends."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from herald.events.models import DeliveryEvent, Engagement
from herald.kit.ids import uuid7
from herald.sandbox.inbox import InboxEntry
from herald.tracking.tokens import Kind, TokenCodec
from tests.harness import Herald

HTML = (
    "<html><body><p>Hi {{ user.name }}, order <b>{{ order_id }}</b> shipped.</p>"
    '<p><A HREF="https://shop.example/orders/{{ order_id }}?a=1&amp;b=2">Track it</A>'
    ' <a href="mailto:help@shop.example">Help</a>'
    ' <a data-herald-track="off" href="https://shop.example/private">Private</a></p>'
    '{% if unsubscribe_url %}<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>{% endif %}'
    "</body></html>"
)
TEXT = "Order {{ order_id }}: https://shop.example/orders/{{ order_id }} {{ unsubscribe_url }}"
TEMPLATE: dict[str, Any] = {"channels": {"email": {"subject": "Order {{ order_id }}", "html": HTML, "text": TEXT}}}
TRACKED = re.compile(r'href="(http://[^"]+/t/c/[A-Za-z0-9_-]+)"', re.IGNORECASE)
PIXEL = re.compile(r'<img src="(http://[^"]+/t/o/[A-Za-z0-9_-]+)"')


async def send(herald: Herald, *, template: dict[str, Any] | None = None, **notify: Any) -> tuple[str, InboxEntry]:
    await herald.user()
    await herald.template("tracked", template or TEMPLATE)
    r = await herald.notify(template="tracked", **notify)
    assert r.status_code == 202, r.text
    await herald.drain()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    [msg] = [e for e in herald.inbox.entries() if e.key == uuid.UUID(d["id"]).hex]
    return str(d["id"]), msg


def path(url: str) -> str:
    return urlsplit(url).path


async def timeline(herald: Herald, delivery_id: str) -> tuple[list[DeliveryEvent], dict[str, Engagement]]:
    await herald.runtime.tracking.recorder.flush()
    async with herald.runtime.sessions() as session:
        key = uuid.UUID(delivery_id)
        events = (await session.scalars(select(DeliveryEvent).where(DeliveryEvent.delivery_id == key))).all()
        summary = (await session.scalars(select(Engagement).where(Engagement.delivery_id == key))).all()
    return list(events), {e.kind: e for e in summary}


async def test_links_pixel_and_unsubscribe_headers_in_the_sent_email(herald: Herald) -> None:
    delivery_id, msg = await send(herald, category="orders")
    html, text = msg.body["html"], msg.body["text"]
    assert len(TRACKED.findall(html)) == 1
    assert "mailto:help@shop.example" in html
    assert '<a href="https://shop.example/private">Private</a>' in html and "data-herald-track" not in html
    [pixel] = PIXEL.findall(html)
    assert html.index(pixel) < html.index("</body>")
    unsubscribe = re.search(r'<a href="(http://[^"]+/u/[A-Za-z0-9_-]+)">Unsubscribe</a>', html)
    assert unsubscribe is not None  # the unsubscribe link itself is not rewritten
    assert msg.headers["List-Unsubscribe"] == f"<{unsubscribe.group(1)}>"
    assert msg.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The text part keeps its links as written.
    assert "https://shop.example/orders/7 " in text and unsubscribe.group(1) in text
    # The tokens carry the delivery, which no link shows.
    assert uuid.UUID(delivery_id).hex not in html and delivery_id not in html


async def test_opens_and_clicks_are_recorded_and_counted(herald: Herald) -> None:
    delivery_id, msg = await send(herald)
    [tracked], [pixel] = TRACKED.findall(msg.body["html"]), PIXEL.findall(msg.body["html"])
    opened = await herald.client.get(path(pixel))
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    assert len(opened.content) == 43 and opened.content.startswith(b"GIF89a")
    assert "no-store" in opened.headers["cache-control"]
    again = await herald.client.get(path(pixel))  # a mail client's proxy fetching it again
    assert again.status_code == 200
    clicked = await herald.client.get(path(tracked))
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://shop.example/orders/7?a=1&b=2"
    events, summary = await timeline(herald, delivery_id)
    kinds = sorted(e.kind for e in events if e.source == "herald")
    assert kinds == ["clicked", "opened"]  # the second load within the minute is the same open
    clicked_event = next(e for e in events if e.kind == "clicked")
    assert clicked_event.detail == "https://shop.example/orders/7?a=1&b=2"
    assert summary["opened"].count == 1 and summary["clicked"].count == 1
    assert summary["opened"].first_at <= summary["opened"].last_at


async def test_bad_tokens_are_404_and_never_redirect(herald: Herald) -> None:
    _, msg = await send(herald)
    tracked = path(TRACKED.findall(msg.body["html"])[0])
    token = tracked.rsplit("/", 1)[1]
    pixel_token = path(PIXEL.findall(msg.body["html"])[0]).rsplit("/", 1)[1]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    forged = TokenCodec("not-this-deployment").seal(Kind.CLICK, uuid7(), "https://evil.example/")
    bad_paths = [f"/t/c/{flipped}", f"/t/c/{token[:-3]}", f"/t/c/{pixel_token}", f"/t/c/{forged}", "/t/c/x"]
    for bad in [*bad_paths, f"/t/o/{token}"]:
        r = await herald.client.get(bad)
        assert r.status_code == 404, bad
        assert r.json()["error"]["code"] == "invalid_tracking_link"
        assert "location" not in r.headers
    page = await herald.client.get(f"/u/{token}")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "invalid_tracking_link" in page.text
    assert (await herald.client.post(f"/u/{flipped}", content=b"List-Unsubscribe=One-Click")).status_code == 404


async def test_the_front_door_answers_opens_and_clicks_within_the_apps_rules(
    herald: Herald, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opens and clicks are answered ahead of FastAPI (`tracking.door`), not ahead of the
    request limits, the NUL rule or the app's error answers; HEAD still reaches the routes."""
    _, msg = await send(herald)
    click = path(TRACKED.findall(msg.body["html"])[0])
    pixel = path(PIXEL.findall(msg.body["html"])[0])
    routed: list[str] = []
    through = FastAPI.__call__

    async def counted(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
        routed.append(scope.get("path", ""))
        await through(app, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", counted)
    r = await herald.client.get(pixel)
    assert r.status_code == 200 and r.content[:6] == b"GIF89a" and r.headers["cache-control"] == "no-store, private"
    r = await herald.client.get(click)
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example/orders/7?a=1&b=2"
    assert routed == []  # neither went through FastAPI
    r = await herald.client.get(f"{pixel[:-4]}%00ab")
    assert r.status_code == 422 and r.json()["error"]["field"] == "token"
    r = await herald.client.get("/t/c/x")
    assert r.status_code == 404 and r.json()["error"]["code"] == "invalid_tracking_link"
    headers = {f"x-pad-{i}": "y" for i in range(herald.runtime.settings.api.max_header_count + 1)}
    assert (await herald.client.get(pixel, headers=headers)).status_code == 431
    assert routed == []
    assert (await herald.client.head(pixel)).status_code in (200, 405)
    assert routed == [pixel]  # HEAD is the routes' (and FastAPI's) to answer
    _, summary = await timeline(herald, str(uuid.UUID(msg.key)))
    assert (summary["opened"].count, summary["clicked"].count) == (1, 1)


async def test_one_click_unsubscribe_writes_the_preference_and_the_next_email_is_skipped(herald: Herald) -> None:
    delivery_id, msg = await send(herald, category="orders")
    url = msg.headers["List-Unsubscribe"].strip("<>")
    # RFC 8058: a POST with this body, no cookie, no confirmation.
    r = await herald.client.post(
        path(url),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert (await herald.client.post(path(url), content=b"List-Unsubscribe=One-Click")).status_code == 200
    prefs = (await herald.client.get("/v1/users/42/preferences")).json()
    assert prefs["categories"] == {"orders": {"enabled": None, "channels": {"email": False}}}
    events, summary = await timeline(herald, delivery_id)
    assert [e.kind for e in events if e.kind == "unsubscribed"] == ["unsubscribed"]  # once, however often
    assert summary["unsubscribed"].count == 1
    skipped = await herald.notify(template="tracked", category="orders")
    other = await herald.notify(template="tracked", category="billing")
    await herald.drain()
    d = (await herald.notification(skipped.json()["id"]))["deliveries"][0]
    assert (d["state"], d["reason"]) == ("skipped", "opted_out")
    assert (await herald.notification(other.json()["id"]))["status"] == "delivered"


async def test_the_unsubscribe_page_asks_first_and_its_form_unsubscribes(herald: Herald) -> None:
    _, msg = await send(herald, category="news")
    url = path(msg.headers["List-Unsubscribe"].strip("<>"))
    page = await herald.client.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and '<html lang="en">' in page.text
    assert f'<form method="post" action="{url}">' in page.text and "<strong>news</strong>" in page.text
    assert (await herald.client.get("/v1/users/42/preferences")).json()["categories"] == {}  # a GET changes nothing
    form = await herald.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert form.status_code == 200
    prefs = (await herald.client.get("/v1/users/42/preferences")).json()
    assert prefs["categories"]["news"]["channels"] == {"email": False}


async def test_critical_and_inline_recipients_have_no_unsubscribe(herald: Herald) -> None:
    _, msg = await send(herald, category="security", critical=True)
    assert "List-Unsubscribe" not in msg.headers and "/u/" not in msg.body["html"]
    assert PIXEL.findall(msg.body["html"])  # still tracked
    r = await herald.notify(
        template="tracked", user_id=None, recipient={"email": "guest@example.com", "name": "Guest"}, category="x"
    )
    assert r.status_code == 202, r.text
    await herald.drain()
    [guest] = herald.inbox.entries(destination="guest@example.com")
    assert "List-Unsubscribe" not in guest.headers


async def test_a_template_and_the_deployment_can_turn_tracking_off(herald: Herald) -> None:
    off = {**TEMPLATE, "tracking": {"opens": False, "clicks": False}}
    _, msg = await send(herald, template=off, category="orders")
    html = msg.body["html"]
    assert not TRACKED.findall(html) and not PIXEL.findall(html)
    assert 'HREF="https://shop.example/orders/7?a=1&amp;b=2"' in html and "data-herald-track" not in html
    assert "List-Unsubscribe" in msg.headers  # unsubscribing is not tracking
    stored = (await herald.client.get("/v1/templates/tracked")).json()
    assert stored["tracking"] == {"opens": False, "clicks": False}
    clicks_only = {**TEMPLATE, "tracking": {"opens": False}}
    _, msg = await send(herald, template=clicks_only)
    assert TRACKED.findall(msg.body["html"]) and not PIXEL.findall(msg.body["html"])
    herald.runtime.settings.tracking.enabled = False
    _, msg = await send(herald)
    assert not TRACKED.findall(msg.body["html"]) and not PIXEL.findall(msg.body["html"])


async def test_buffered_events_are_written_on_close(herald: Herald) -> None:
    delivery_id, msg = await send(herald)
    [pixel] = PIXEL.findall(msg.body["html"])
    assert (await herald.client.get(path(pixel))).status_code == 200
    await herald.runtime.tracking.close()  # a clean shutdown writes what is buffered
    assert herald.runtime.tracking.recorder.pending == 0
    async with herald.runtime.sessions() as session:
        kinds = (await session.scalars(select(DeliveryEvent.kind).where(DeliveryEvent.kind == "opened"))).all()
    assert kinds == ["opened"]
    assert delivery_id
