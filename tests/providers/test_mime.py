"""The hand-written MIME builder, read back by the stdlib's own parser (the judge of the format)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedMessage

import pytest

from herald.providers import mime


def parse(raw: bytes) -> ParsedMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, ParsedMessage) and not parsed.defects
    return parsed


def test_text_and_html_become_multipart_alternative() -> None:
    raw = mime.message([("From", "Herald <noreply@h.example>"), ("Subject", "Hi")], "plain ✓", "<p>html ✓</p>")
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Hi" and parsed["MIME-Version"] == "1.0"
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and text.get_content() == "plain ✓"
    assert html is not None and html.get_content() == "<p>html ✓</p>"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, as SMTP's DATA wants


def test_text_only_is_a_single_part_with_lines_kept() -> None:
    parsed = parse(mime.message([("Subject", "Hi")], "line 1\nline 2\n" * 40, None))
    assert parsed.get_content_type() == "text/plain" and not parsed.is_multipart()
    assert parsed.get_content() == "line 1\nline 2\n" * 40


@pytest.mark.parametrize(
    "subject",
    ["Ünïcode 日本語 subject", "plain ascii " * 12, "Ünïcode and long " * 10],
)
def test_non_ascii_and_long_subjects_are_encoded_and_folded(subject: str) -> None:
    raw = mime.message([("Subject", subject)], "x", None)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert head.isascii()
    assert str(parse(raw)["Subject"]).replace(" ", "") == subject.replace(" ", "")


def test_a_header_value_cannot_inject_another_header() -> None:
    to = mime.mailbox("bob@example.com", "Bob\r\nBcc: eve@example.com")
    parsed = parse(mime.message([("To", to), ("Subject", "Hi\nBcc: eve@example.com")], "x", None))
    assert parsed["Bcc"] is None
    assert "eve@example.com" in str(parsed["Subject"])  # kept as text, on the one line


def test_a_non_ascii_display_name_survives_the_round_trip() -> None:
    parsed = parse(mime.message([("To", mime.mailbox("zoe@example.com", "Zoë Ünïcode"))], "x", None))
    assert parsed["To"].addresses[0].display_name == "Zoë Ünïcode"
    assert parsed["To"].addresses[0].addr_spec == "zoe@example.com"
