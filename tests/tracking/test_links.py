"""Rewriting an email's HTML: which links become click-throughs, and where the pixel goes."""

from __future__ import annotations

import re
import uuid

import pytest

from herald.kit.ids import uuid7
from herald.tracking.links import Links
from herald.tracking.tokens import Kind, TokenCodec

CODEC = TokenCodec("test-secret-key")
LINKS = Links(CODEC, "https://herald.example")
DELIVERY = uuid7()
TRACKED = re.compile(r'href="https://herald\.example/t/c/([A-Za-z0-9_-]+)"', re.IGNORECASE)


def rewrite(html: str, *, opens: bool = False, clicks: bool = True) -> str:
    return LINKS.rewrite(html, DELIVERY, opens=opens, clicks=clicks)


def targets(html: str) -> list[str]:
    out = []
    for token in TRACKED.findall(html):
        claim = CODEC.open(token, Kind.CLICK)
        assert claim is not None and claim.delivery_id == DELIVERY
        assert claim.url is not None
        out.append(claim.url)
    return out


def test_double_single_and_unquoted_hrefs_are_tracked() -> None:
    html = (
        """<a href="https://a.example/1">1</a> <a href='https://a.example/2'>2</a> <a href=https://a.example/3>3</a>"""
    )
    out = rewrite(html)
    assert targets(out) == ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
    assert ">1</a> " in out and ">3</a>" in out


def test_entities_are_decoded_into_the_token_and_query_strings_kept() -> None:
    out = rewrite('<a href="https://a.example/p?x=1&amp;y=2&#38;z=%20">x</a>')
    assert targets(out) == ["https://a.example/p?x=1&y=2&z=%20"]


def test_uppercase_tags_attributes_and_schemes() -> None:
    out = rewrite('<A HREF="HTTPS://A.example/Up" CLASS="b">x</A><a\nhref="http://plain.example">y</a>')
    assert targets(out) == ["HTTPS://A.example/Up", "http://plain.example"]
    assert out.startswith('<A HREF="https://herald.example/t/c/') and 'CLASS="b"' in out


def test_quoted_greater_than_signs_and_other_attributes_survive() -> None:
    out = rewrite("""<a title="a > b" data-x='<q>' href="https://a.example/">x</a>""")
    assert targets(out) == ["https://a.example/"]
    assert out.startswith("""<a title="a > b" data-x='<q>' href="https://herald.example/t/c/""")


def test_only_web_links_are_tracked() -> None:
    html = (
        '<a href="mailto:ada@example.com">m</a><a href="tel:+441234">t</a><a href="#top">a</a>'
        '<a href="/relative">r</a><a href="javascript:alert(1)">j</a><a name="x">n</a>'
        '<a href="https://herald.example/u/abc">u</a><a href="https://herald.example/t/c/abc">c</a>'
        '<a href="https://a.example/with space">s</a>'
    )
    assert rewrite(html) == html


def test_other_tags_are_left_alone() -> None:
    html = '<abbr href="https://a.example">x</abbr><area href="https://a.example"><link href="https://a.example/s.css">'
    assert rewrite(html) == html


def test_a_link_opts_out_and_its_marker_is_removed_either_way() -> None:
    html = (
        '<a data-herald-track="off" href="https://a.example/private">p</a>'
        '<a href="https://a.example/on" DATA-HERALD-TRACK="on">o</a>'
        "<a href='https://a.example/f' data-herald-track='false'>f</a>"
    )
    out = rewrite(html)
    assert "data-herald-track" not in out.lower()
    assert '<a href="https://a.example/private">p</a>' in out
    assert "<a href='https://a.example/f'>f</a>" in out
    assert targets(out) == ["https://a.example/on"]
    # Clicks off for the whole template: markers still go, nothing is tracked.
    off = rewrite(html, clicks=False)
    assert targets(off) == [] and "data-herald-track" not in off.lower()


def test_the_pixel_goes_before_the_body_end_or_at_the_end() -> None:
    out = rewrite("<html><body><p>x</p></body></html>", opens=True, clicks=False)
    pattern = r'<img src="https://herald\.example/t/o/([A-Za-z0-9_-]+)" width="1" height="1" alt=""[^>]*></body>'
    m = re.search(pattern, out)
    assert m is not None and CODEC.open(m.group(1), Kind.OPEN) is not None
    assert out.endswith("</body></html>")
    upper = rewrite("<BODY>x</BODY >", opens=True, clicks=False)
    assert upper.startswith("<BODY>x<img ") and upper.endswith("</BODY >")
    bare = rewrite("<p>fragment</p>", opens=True, clicks=False)
    assert bare.startswith("<p>fragment</p><img ")


def test_nothing_to_do_returns_the_html_unchanged() -> None:
    html = "<p>no links</p>"
    assert rewrite(html, opens=False, clicks=False) == html
    assert rewrite(html) == html


def test_the_delivery_is_sealed_for_clicks_only_when_a_link_is_tracked(monkeypatch: pytest.MonkeyPatch) -> None:
    sealed: list[object] = []
    codec = TokenCodec("test-secret-key")
    click_head = codec.click_head

    def counted(delivery_id: bytes) -> bytes:
        sealed.append(uuid.UUID(bytes=delivery_id))
        return click_head(delivery_id)

    monkeypatch.setattr(codec, "click_head", counted)
    links = Links(codec, "https://herald.example")
    links.rewrite('<p>none</p><a href="mailto:a@example.com">m</a>', DELIVERY, opens=True, clicks=True)
    assert sealed == []
    out = links.rewrite(
        '<a href="https://a.example/1">1</a><a href="https://a.example/2">2</a>', DELIVERY, opens=False, clicks=True
    )
    assert sealed == [DELIVERY]  # once for both links
    assert targets(out) == ["https://a.example/1", "https://a.example/2"]


def test_an_unterminated_tag_is_left_alone_quickly() -> None:
    html = '<a href="https://a.example' + " x" * 20_000
    assert rewrite(html) == html
