"""Responsive email in MJML: rendered, compiled to HTML with its CSS inlined, tracked; refused
with `invalid_mjml` when it does not compile; the compiled shapes are the whole compile's twin."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.channels.registry import spec
from herald.kit.errors import InvalidMjml, RenderLimit
from herald.templates import responsive
from herald.templates.render import render
from herald.templates.responsive import compile_mjml, settled, shape
from tests.harness import Herald, LoopTicks

MJML = """<mjml>
  <mj-head><mj-style>.note { color: #a1b2c3; }</mj-style></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text css-class="note">Hi {{ user.name }}, order {{ order_id }} shipped.</mj-text>
      <mj-text>{% for item in items %}<p>{{ item }}</p>{% endfor %}</mj-text>
      <mj-button href="https://shop.example/orders/{{ order_id }}">Track it</mj-button>
    </mj-column></mj-section>
  </mj-body>
</mjml>"""
TEMPLATE: dict[str, Any] = {"channels": {"email": {"subject": "Order {{ order_id }}", "mjml": MJML}}}
TRACKED = re.compile(r'href="(http://[^"]+/t/c/[A-Za-z0-9_-]+)"')
PIXEL = re.compile(r'<img src="http://[^"]+/t/o/[A-Za-z0-9_-]+"')


def sent(herald: Herald) -> list[str]:
    return [e.body["html"] for e in herald.inbox.entries(provider="smtp")]


async def test_an_mjml_email_is_sent_as_html_with_inline_styles_data_and_tracked_links(herald: Herald) -> None:
    await herald.user(name="Ada <Lovelace> & co")
    await herald.template("shipped", TEMPLATE)
    for order in (7, 8):
        data = {"order_id": order, "items": [f"book {order}", "pen"]}
        assert (await herald.notify(template="shipped", data=data)).status_code == 202
    await herald.drain()
    first, second = sorted(sent(herald), key=lambda html: "order 8" in html)
    assert "<mj-" not in first and first.lstrip().lower().startswith("<!doctype html>")
    # The <mj-style> rule is now a style attribute on the element of that class; the media
    # queries stay in the head.
    assert re.search(r'class="note"[^>]*style="[^"]*color: #a1b2c3', first), first
    assert "@media only screen" in first
    # The data is in, escaped, per recipient (the second came from the same compiled shape).
    assert "Hi Ada &lt;Lovelace&gt; &amp; co, order 7 shipped." in first
    assert "<p" in first and ">book 7</p>" in first and "book 8" not in first
    assert "order 8 shipped." in second and ">book 8</p>" in second
    # The button's link goes through the click tracker, and the open pixel is added.
    assert len(TRACKED.findall(first)) == 1 and "https://shop.example/orders/7" not in first
    pixel = PIXEL.search(first)
    assert pixel is not None and pixel.start() < first.index("</body>")


async def test_mjml_that_does_not_compile_is_refused_with_invalid_mjml(client: httpx.AsyncClient) -> None:
    def email(mjml: str, **more: str) -> dict[str, Any]:
        return {"channels": {"email": {"subject": "s", "mjml": mjml, **more}}}

    unclosed = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ name }}</mj-text></mj-column></mj-body></mjml>"
    deep = "<mjml><mj-body><mj-raw>" + "<div>" * 4_000 + "x" + "</div>" * 4_000 + "</mj-raw></mj-body></mjml>"
    cases = {
        "unclosed": (unclosed, "invalid MJML"),
        "unreadable tag": ('<mjml><mj-body><mj-raw><p title="a>b">x</p></mj-raw></mj-body></mjml>', "cannot be read"),
        "include": ('<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>', "include"),
        # MRML recurses (its stack overflows some thousands deep): refused before it runs.
        "deep": (deep, "nests elements more than 100 deep"),
    }
    for name, (mjml, message) in cases.items():
        r = await client.put("/v1/templates/t", json=email(mjml))
        assert r.status_code == 422, (name, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_mjml" and err["field"] == "channels.email.mjml", (name, err)
        assert message in err["message"], (name, err)
    # In a locale too, named by its field.
    body = {**email("<mjml><mj-body></mj-body></mjml>"), "locales": {"fr": email(unclosed)["channels"]}}
    r = await client.put("/v1/templates/t", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "locales.fr.email.mjml", r.text
    # html and mjml at once is a plain validation error.
    r = await client.put("/v1/templates/t", json=email("<mjml></mjml>", html="<p>x</p>"))
    assert r.status_code == 422 and "not both" in r.json()["error"]["message"], r.text
    # The compiler process survived the deep one: a good template still compiles.
    assert (await client.put("/v1/templates/t", json=TEMPLATE)).status_code == 201


async def test_the_preview_shows_the_compiled_html_and_mjml_problems(client: httpx.AsyncClient) -> None:
    body = {**TEMPLATE, "sample_data": {"order_id": 41, "items": ["kite"], "user": {"name": "Sam"}}}
    assert (await client.put("/v1/templates/t/draft", json=body)).status_code == 201
    r = await client.post("/v1/templates/t/preview", json={})
    assert r.status_code == 200 and r.json()["problems"] == 0, r.text
    [email] = r.json()["messages"]
    html = email["rendered"]["html"]
    assert "<mj-" not in html and "Hi Sam, order 41 shipped." in html and ">kite</p>" in html
    assert 'href="https://shop.example/orders/41"' in html  # a preview is not tracked

    broken = {"channels": {"email": {"subject": "s", "mjml": "<mjml><mj-body><mj-section></mj-body></mjml>"}}}
    r = await client.post("/v1/templates/t/preview", json={"template": broken})
    assert r.status_code == 200, r.text
    [email] = r.json()["messages"]
    [problem] = email["problems"]
    assert problem["kind"] == "invalid_mjml" and problem["field"] == "email.mjml" and email["rendered"] is None


async def test_an_mjml_email_extends_an_mjml_layout_and_not_an_html_one(herald: Herald) -> None:
    client = herald.client
    frame = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ brand }}</mj-text>"
        "{% block content %}{% endblock %}</mj-column></mj-section></mj-body></mjml>"
    )
    r = await client.put("/v1/layouts/frame", json={"mjml": frame})
    assert r.status_code == 201 and r.json()["mjml"] == frame and r.json()["html"] is None, r.text
    bad = await client.put("/v1/layouts/bad", json={"mjml": "<mjml><mj-body><mj-column></mjml>"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_mjml", bad.text
    assert bad.json()["error"]["field"] == "mjml"
    await client.put("/v1/layouts/page", json={"html": "<main>{% block content %}{% endblock %}</main>"})

    child = '{% extends "frame" %}{% block content %}<mj-text>Hi {{ user.name }}</mj-text>{% endblock %}'
    await herald.user()
    await herald.template("news", {"channels": {"email": {"subject": "News", "mjml": child}}})
    await herald.notify(template="news", data={"brand": "Acme"})
    await herald.drain()
    [html] = sent(herald)
    assert ">Acme</div>" in html and ">Hi Ada Lovelace</div>" in html

    for field, layout in [("html", "frame"), ("mjml", "page")]:
        source = child.replace("frame", layout) if field == "mjml" else '{% extends "frame" %}'
        r = await client.put("/v1/templates/other", json={"channels": {"email": {"subject": "s", field: source}}})
        assert r.status_code == 422 and f"not written in {field}" in r.json()["error"]["message"], r.text
        assert r.json()["error"]["field"] == f"channels.email.{field}"
    # A layout in use keeps its language.
    r = await client.put("/v1/layouts/frame", json={"html": "<main>{% block content %}{% endblock %}</main>"})
    assert r.status_code == 422 and "'news'" in r.json()["error"]["message"], r.text


# -- The compiled shapes, in-process -------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    responsive.CACHE.clear()


async def rendered(content: dict[str, Any], data: dict[str, Any]) -> str:
    out = await settled(lambda: render(spec("email"), content, data))
    return str(out.html)


DATA = [
    {"user": {"name": "Ada"}, "order_id": 7, "items": ["a", "b"]},
    {"user": {"name": "Grace Hopper"}, "order_id": 1234, "items": ["c", "d"]},
    {"user": {"name": "Bob"}, "order_id": 5, "items": ["e", "f", "g"]},
]


async def test_a_render_from_a_cached_shape_is_the_whole_compile_of_its_text() -> None:
    content = {"subject": "s", "mjml": MJML}
    for data in DATA:
        html = await rendered(content, data)
        text = render(spec("email"), {"subject": "s", "html": MJML}, data).html
        assert text is not None
        assert html == compile_mjml(text), data
    # Three renders, two shapes (two items, then three): compiled twice, not three times.
    assert len(responsive.CACHE) == 2
    key, values = shape(text)
    assert key[1] and "Hi Bob, order 5 shipped." in values and "https://shop.example/orders/5" in values
    assert "Bob" not in key[0] and "orders/5" not in key[0]


async def test_mjml_whose_parts_would_not_pass_verbatim_is_compiled_whole() -> None:
    # A URL that a CSS selector reads is not swapped for a marker.
    styled = MJML.replace(".note {", 'a[href*="orders"] { color: red } .note {')
    text = render(spec("email"), {"subject": "s", "html": styled}, DATA[0]).html
    assert text is not None
    key, values = shape(text)
    assert "https://shop.example/orders/7" in key[0] and "https://shop.example/orders/7" not in values
    assert await rendered({"subject": "s", "mjml": styled}, DATA[0]) == compile_mjml(text)
    # A shape whose markers do not all come out of the compile is not used: the text is
    # compiled as it is.
    text = render(spec("email"), {"subject": "s", "html": MJML}, DATA[1]).html
    assert text is not None
    key, _ = shape(text)
    responsive.learn(key, "<p>markers lost</p>", None)
    assert responsive.CACHE.get(key) is responsive.UNMARKABLE
    assert await rendered({"subject": "s", "mjml": MJML}, DATA[1]) == compile_mjml(text)
    assert (text, False) in responsive.CACHE


def test_nothing_is_read_from_files_or_the_network(tmp_path: Path) -> None:
    css = tmp_path / "evil.css"
    css.write_text("p { color: #abcdef }")
    for href in (str(css), css.as_uri()):
        mjml = f'<mjml><mj-body><mj-raw><link rel="stylesheet" href="{href}"><p>x</p></mj-raw></mj-body></mjml>'
        assert "#abcdef" not in compile_mjml(mjml)
    with pytest.raises(InvalidMjml, match="include"):
        compile_mjml(f'<mjml><mj-body><mj-include path="{css}" /></mj-body></mjml>')


async def test_the_event_loop_is_free_while_mjml_compiles() -> None:
    sections = "".join(f"<mj-section><mj-column><mj-text>{n}</mj-text></mj-column></mj-section>" for n in range(400))
    big = {"subject": "s", "mjml": f"<mjml><mj-body>{sections}</mj-body></mjml>"}
    async with LoopTicks(0.001) as ticks:
        html = await rendered(big, {})
    assert ">399</div>" in html
    assert ticks.count >= 3  # the loop ran while the compiler process worked


async def test_text_that_mjml_copies_into_an_attribute_is_escaped_there() -> None:
    # MRML copies <mj-title> into an aria-label, with a backslash before a quote (not HTML).
    titled = '<mjml><mj-head><mj-title>Say "hi", {{ name }}</mj-title></mj-head><mj-body></mj-body></mjml>'
    html = await rendered({"subject": "s", "mjml": titled}, {"name": "Ann"})
    assert 'aria-label="Say &quot;hi&quot;, Ann"' in html and '<title>Say "hi", Ann</title>' in html


def test_telling_tags_from_text_is_bounded() -> None:
    many = "<mjml><mj-body><mj-raw>" + "<br>" * 10_000 + "</mj-raw></mj-body></mjml>"
    with pytest.raises(RenderLimit, match="more than 10,000 tags"):
        shape(many)
    # The split is linear whatever the text: a would-be tag fails at the next `<`.
    for junk in ("<a b='", "<!x", "<style", "</"):
        started = time.process_time()
        with pytest.raises(InvalidMjml, match="cannot be read"):
            shape(junk * 2_000 + "<mjml></mjml>")
        assert time.process_time() - started < 0.1, junk
