"""`preferences_url` is sealed for content that names it, for a stored user's delivery, and is
never rewritten for click tracking."""

from __future__ import annotations

import uuid

from herald.tracking.links import PREFERENCES_PATH
from herald.tracking.steps import PREFERENCES_VARIABLE, PreferencesLink
from herald.tracking.tokens import Kind
from tests.tracking.test_unsubscribe_step import CODEC, TRACKER, sending


async def test_content_that_names_it_gets_the_users_link_critical_or_not() -> None:
    for critical in (False, True):
        s = sending(
            "email", {"email": {"html": "<a href='{{ preferences_url }}'>prefs</a>"}}, user_id="42", critical=critical
        )
        await PreferencesLink(TRACKER)(s)
        url = s.variables[PREFERENCES_VARIABLE]
        assert url.startswith(f"https://h.example{PREFERENCES_PATH}")
        claim = CODEC.open(url.rsplit("/", 1)[1], Kind.PREFERENCES)
        assert claim is not None and claim.delivery_id == s.work.delivery.id
        assert CODEC.open(url.rsplit("/", 1)[1], Kind.UNSUBSCRIBE) is None  # a token of its own kind


async def test_no_link_for_content_without_it_or_an_inline_recipient() -> None:
    s = sending("email", {"email": {"html": "<p>{{ unsubscribe_url }}</p>"}})
    await PreferencesLink(TRACKER)(s)
    assert PREFERENCES_VARIABLE not in s.variables
    s = sending("sms", {"sms": {"text": "{{ preferences_url }}"}}, user_id=None, critical=False)
    await PreferencesLink(TRACKER)(s)
    assert PREFERENCES_VARIABLE not in s.variables


def test_the_link_is_not_rewritten_for_click_tracking() -> None:
    url = TRACKER.links.preferences_url(uuid.uuid4())
    html = f'<a href="{url}">Preferences</a><a href="https://shop.example/">Shop</a>'
    out = TRACKER.links.rewrite(html, uuid.uuid4(), opens=False, clicks=True)
    assert f'<a href="{url}">Preferences</a>' in out and "https://shop.example/" not in out
