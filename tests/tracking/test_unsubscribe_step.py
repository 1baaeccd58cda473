"""The unsubscribe link is sealed only where it is used: in content that names it, and in an
email's List-Unsubscribe header (whether or not its body names it)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

from herald.config import TrackingSettings
from herald.delivery.sending import Sending
from herald.providers.messages import EmailMessage
from herald.tracking.links import Links
from herald.tracking.steps import UNSUBSCRIBE_VARIABLE, Track, Tracker, UnsubscribeLink
from herald.tracking.tokens import Kind, TokenCodec

CODEC = TokenCodec("k" * 40)
TRACKER = Tracker(TrackingSettings(), Links(CODEC, "https://h.example"))


def sending(channel: str, channels: dict[str, Any], locales: dict[str, Any] | None = None, **n: Any) -> Sending:
    notification = SimpleNamespace(user_id="42", critical=False) if not n else SimpleNamespace(**n)
    work = SimpleNamespace(
        delivery=SimpleNamespace(id=uuid.uuid4(), channel=channel),
        notification=notification,
        channels=channels,
        locales=locales or {},
        tracking=None,
    )
    return cast(Sending, SimpleNamespace(work=work, variables={}, message=None))


async def test_content_that_does_not_name_the_link_gets_none() -> None:
    s = sending("push", {"push": {"title": "Hi", "body": "Your order shipped", "data": {"k": "v"}}})
    await UnsubscribeLink(TRACKER)(s)
    assert UNSUBSCRIBE_VARIABLE not in s.variables


async def test_content_that_names_it_gets_a_link_in_any_locale_or_nested_field() -> None:
    s = sending("sms", {"sms": {"body": "Stop: {{ unsubscribe_url }}"}})
    await UnsubscribeLink(TRACKER)(s)
    token = s.variables[UNSUBSCRIBE_VARIABLE].removeprefix("https://h.example/u/")
    claim = CODEC.open(token, Kind.UNSUBSCRIBE)
    assert claim is not None and claim.delivery_id == s.work.delivery.id
    s = sending("push", {"push": {"title": "Hi"}}, {"fr": {"push": {"data": {"u": "{{ unsubscribe_url }}"}}}})
    await UnsubscribeLink(TRACKER)(s)
    assert s.variables[UNSUBSCRIBE_VARIABLE].startswith("https://h.example/u/")


async def test_a_critical_notification_gets_none_even_if_named() -> None:
    s = sending("sms", {"sms": {"body": "{{ unsubscribe_url }}"}}, user_id="42", critical=True)
    await UnsubscribeLink(TRACKER)(s)
    assert UNSUBSCRIBE_VARIABLE not in s.variables


async def test_an_email_gets_its_header_though_its_body_does_not_name_the_link() -> None:
    s = sending("email", {"email": {"subject": "Hi", "html": "<p>Shipped</p>"}})
    await UnsubscribeLink(TRACKER)(s)
    assert UNSUBSCRIBE_VARIABLE not in s.variables
    s.message = EmailMessage("k", "a@example.com", "Hi", "<p>Shipped</p>", None)
    await Track(TRACKER)(s)
    headers = dict(cast(EmailMessage, s.message).headers)
    url = headers["List-Unsubscribe"].strip("<>")
    claim = CODEC.open(url.removeprefix("https://h.example/u/"), Kind.UNSUBSCRIBE)
    assert claim is not None and claim.delivery_id == s.work.delivery.id
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
