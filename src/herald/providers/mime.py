"""An email as RFC 5322 / MIME bytes, written directly.

Herald's messages have one fixed shape: a few headers, then a text part, an HTML part or both
as multipart/alternative, each UTF-8 in base64. The stdlib's `email` package builds a tree of
`Message` objects and walks it again with its generator to print that shape, and measured
about a third of an email worker's CPU doing so. Here the same bytes are written in one pass;
`email.header.Header` is still used for what needs real care (non-ASCII or over-long headers,
RFC 2047), and tests parse the output with the stdlib's parser.
"""

from __future__ import annotations

import base64
import secrets
from email.header import Header
from email.utils import formataddr

_CRLF = b"\r\n"
# RFC 5322 2.1.1: lines SHOULD be at most 78 characters; longer headers are folded. A line
# MUST be at most 998: an ASCII value with no space to fold at (a List-Unsubscribe URL) is
# written whole on its line rather than pushed alone onto the next.
_MAX_LINE = 78
_MUST_LINE = 998


def _one_line(value: str) -> str:
    """A header value can never start a new header: CR and LF become spaces."""
    return value.replace("\r", " ").replace("\n", " ") if ("\r" in value or "\n" in value) else value


def header(name: str, value: str) -> bytes:
    """`Name: value`, RFC 2047-encoded and folded when it is not short plain ASCII."""
    value = _one_line(value)
    if value.isascii() and len(name) + 2 + len(value) <= (_MAX_LINE if " " in value or "\t" in value else _MUST_LINE):
        return f"{name}: {value}".encode("ascii")
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, maxlinelen=76, header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode("ascii")


def mailbox(address: str, name: str | None) -> str:
    """`Name <address>`, the display name RFC 2047-encoded when it is not ASCII."""
    if not name:
        return address
    name = _one_line(name)
    return formataddr((name if name.isascii() else Header(name, "utf-8").encode(), address))


def _body(text: str) -> bytes:
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", _CRLF)


def _part(subtype: str, text: str) -> list[bytes]:
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"'.encode("ascii"),
        b"Content-Transfer-Encoding: base64",
        b"",
        _body(text),
    ]


def message(headers: list[tuple[str, str]], text: str | None, html: str | None) -> bytes:
    """The whole message: `headers` in order, then the body (both parts when there is HTML)."""
    lines = [header(name, value) for name, value in headers]
    lines.append(b"MIME-Version: 1.0")
    if html is None:
        lines += _part("plain", text or "")
        return _CRLF.join(lines)
    boundary = f"=_herald_{secrets.token_hex(12)}"
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"'.encode("ascii"))
    lines.append(b"")
    delimiter = f"--{boundary}".encode("ascii")
    for subtype, content in (("plain", text or ""), ("html", html)):
        lines.append(delimiter)
        lines += _part(subtype, content)
    lines.append(delimiter + b"--")
    lines.append(b"")
    return _CRLF.join(lines)
