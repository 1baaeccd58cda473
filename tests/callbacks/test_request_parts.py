"""The callbacks' own readings of a request match the libraries they stand in for: the form
(`urllib.parse.parse_qsl`) and the URL a provider signed (Starlette's `request.url`)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from herald.callbacks.endpoints import signed_url
from herald.callbacks.receipts import form_of, query_of

_PIECES = st.sampled_from(["a", "B", "=", "&", "+", "%", "%2B", "%3D", "%26", "%zz", "%C3%A9", "%FF", "é", " ", "~"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_the_form_is_what_parse_qsl_reads(text: str) -> None:
    assert form_of(text.encode()) == dict(parse_qsl(text, keep_blank_values=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.sampled_from(["\xff", "\u20ac"]), max_size=16).map("".join))
def test_the_query_is_what_starlette_reads(text: str) -> None:
    raw = text.encode()
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": raw, "headers": []}
    assert query_of(raw) == dict(Request(scope).query_params)


def test_a_form_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        form_of(b"To=%2B1&Body=\xff")


@pytest.mark.parametrize(
    ("path", "query", "host"),
    [
        ("/v1/callbacks/twilio", b"k=abc%2B&x=1", b"127.0.0.1:39775"),
        ("/v1/callbacks/twilio", b"", b"example.com"),
        ("/v1/callbacks/tw?il#io\\x", b"a=%00", b"Example.COM:443"),
        ("/v1/callbacks/twilio", b"", b"[::1]:8000"),  # not a plain host: Starlette's own reading
        ("/v1/callbacks/twilio", b"q", b"host:99999"),  # an impossible port: the server's address
        ("/v1/callbacks/twilio", b"q", None),
        ("/v1/callbacks/\u00fc", "x=\u00fc".encode(), b"h"),
    ],
)
def test_the_signed_url_is_the_one_starlette_reads(path: str, query: bytes, host: bytes | None) -> None:
    headers = [(b"host", host)] if host is not None else []
    scope = {"type": "http", "method": "POST", "path": path, "query_string": query, "headers": headers,
             "scheme": "https", "server": ("10.0.0.1", 8443)}  # fmt: skip
    assert signed_url(Request(scope), None) == str(Request(scope).url)
    url = Request(scope).url
    public = "https://herald.example" + url.path + (f"?{url.query}" if url.query else "")
    assert signed_url(Request(scope), "https://herald.example/") == public
