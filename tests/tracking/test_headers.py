"""Every email adapter (SMTP, SendGrid, Mailchimp) sends a message's extra headers (List-Unsubscribe, RFC 8058)."""

from __future__ import annotations

import email
from email.policy import default

from pydantic import SecretStr

from herald.config import SmtpSettings
from herald.providers.mailchimp import MailchimpAdapter, MailchimpConfig
from herald.providers.messages import EmailMessage
from herald.providers.sendgrid import SendGridAdapter, SendGridConfig
from herald.providers.smtp import SmtpAdapter

URL = "https://herald.example.com/u/" + "A" * 120  # longer than a folded line
HEADERS = (("List-Unsubscribe", f"<{URL}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
MESSAGE = EmailMessage(key="0" * 32, to="ada@example.com", subject="Hi", html="<p>x</p>", text="x", headers=HEADERS)


def test_smtp_writes_them_whole_on_one_line() -> None:
    raw = SmtpAdapter(SmtpSettings()).as_bytes(MESSAGE)
    assert f"\r\nList-Unsubscribe: <{URL}>\r\n".encode() in raw
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["List-Unsubscribe"] == f"<{URL}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sendgrid_puts_them_in_the_payload() -> None:
    adapter = SendGridAdapter(SendGridConfig(api_key=SecretStr("SG.x"), from_email="noreply@example.com"))
    assert adapter.payload(MESSAGE)["headers"] == dict(HEADERS)
    plain = EmailMessage(key="0" * 32, to="ada@example.com", subject="Hi", html=None, text="x")
    assert "headers" not in adapter.payload(plain)


def test_mailchimp_puts_them_in_the_message() -> None:
    adapter = MailchimpAdapter(MailchimpConfig(api_key=SecretStr("md-x"), from_email="noreply@example.com"))
    assert adapter.payload(MESSAGE)["message"]["headers"] == dict(HEADERS)
    plain = EmailMessage(key="0" * 32, to="ada@example.com", subject="Hi", html=None, text="x")
    assert "headers" not in adapter.payload(plain)["message"]
