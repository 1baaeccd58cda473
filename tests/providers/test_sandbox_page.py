"""The sandbox inbox as a page (`GET /_sandbox/`): newest first, each protocol's subject and
text found, everything escaped, and bad paging a 400 rather than a 500."""

from __future__ import annotations

import re

import httpx

from herald.sandbox.inbox import Inbox, InboxEntry
from tests.cli import test_sandbox_cli

sandbox = test_sandbox_cli.sandbox  # a sandbox with no simulator, and its inbox


async def test_the_page_lists_the_newest_first_escaped(sandbox: tuple[str, Inbox]) -> None:
    url, inbox = sandbox
    mail = {"subject": "<script>alert(1)</script>", "text": "Hi   Ada,\n order 7", "html": "<p>x</p>"}
    inbox.record(InboxEntry("smtp", "ada@example.com", "m1", "k1", None, {}, mail))
    inbox.record(InboxEntry("twilio", "+14155550123", "m2", "k2", None, {}, {"To": "+14155550123", "Body": "Code 1"}))
    alert = {"aps": {"alert": {"title": "Shipped", "body": "Order 7 & more"}}}
    inbox.record(InboxEntry("apns", "ab" * 32, "m3", "k3", None, {}, alert))
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.get("/_sandbox/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "script-src" not in r.headers["content-security-policy"]  # no script may run on it
        rows = re.findall(r'<tr data-provider="(\w+)">(.*?)</tr>', r.text)
        assert [p for p, _ in rows] == ["apns", "twilio", "smtp"]
        apns, twilio, smtp = (row for _, row in rows)
        assert "<td>push</td>" in apns and "<td>Shipped</td>" in apns and "Order 7 &amp; more" in apns
        assert "<td>sms</td>" in twilio and "Code 1" in twilio
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in smtp and "<script>" not in r.text
        assert "Hi Ada, order 7" in smtp  # the text part, its whitespace folded

        page = await http.get("/_sandbox/", params={"provider": "smtp", "limit": "1"})
        assert [p for p, _ in re.findall(r'<tr data-provider="(\w+)">(.*?)</tr>', page.text)] == ["smtp"]
        for bad in ({"limit": "ten"}, {"since": "1.5"}):
            assert (await http.get("/_sandbox/", params=bad)).status_code == 400
            assert (await http.get("/_sandbox/inbox", params=bad)).status_code == 400
        inbox.clear()
        assert "No message yet" in (await http.get("/_sandbox/")).text
