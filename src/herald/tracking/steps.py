"""Tracking in the send path: steps around the render.

`UnsubscribeLink` and `PreferencesLink` (before the render) give the template its
`unsubscribe_url` and `preferences_url`, so a body can place the links; `Track` (after it)
rewrites the email's HTML (click-through links, the open pixel) and adds the RFC 8058
headers. All are plain send-path steps: they never stop a delivery, and with tracking off
they cost a few attribute reads.
"""

from __future__ import annotations

import dataclasses

from herald.config import Settings, TrackingSettings
from herald.delivery.sending import Sending, Stop
from herald.providers.messages import EmailMessage
from herald.tracking.links import Links
from herald.tracking.tokens import TokenCodec

UNSUBSCRIBE_VARIABLE = "unsubscribe_url"
PREFERENCES_VARIABLE = "preferences_url"
ONE_CLICK = ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")


class Tracker:
    """One deployment's tracking: its switches and its link writer."""

    def __init__(self, settings: TrackingSettings, links: Links) -> None:
        self.settings = settings
        self.links = links

    def unsubscribable(self, s: Sending) -> bool:
        """Whether the delivery gets an unsubscribe link (see `UnsubscribeLink`)."""
        n = s.work.notification
        return self.settings.unsubscribe and n.user_id is not None and not n.critical

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracker:
        codec = TokenCodec(settings.effective_secret_key().get_secret_value())
        return cls(settings.tracking, Links(codec, settings.effective_public_url()))


class UnsubscribeLink:
    """A delivery that can be unsubscribed from gets its signed link as `unsubscribe_url`.

    It can when it is not critical (a critical notification ignores opt-outs, so offering one
    would lie) and it is for a stored user (an opt-out is that user's preference; an inline
    recipient has none to write). The link writes the preference for the delivery's own
    category on its own channel; without a category, for the whole channel.

    A token costs a seal (measured: 1.7% of a push worker's CPU), so the link is made here only
    for content that names the variable; an email's List-Unsubscribe header gets it from
    `Track` whether its body names it or not. Any other channel pays a scan of its content.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    async def __call__(self, s: Sending) -> Stop | None:
        if self.tracker.unsubscribable(s) and _names_variable(s, UNSUBSCRIBE_VARIABLE):
            s.variables[UNSUBSCRIBE_VARIABLE] = self.tracker.links.unsubscribe_url(s.work.delivery.id)
        return None


class PreferencesLink:
    """A delivery to a stored user gets a signed link to their preference page as
    `preferences_url`, when its content names the variable (a seal costs, as for
    `UnsubscribeLink`). A critical one too: the page changes no critical category, and the
    user's other categories are theirs to change."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    async def __call__(self, s: Sending) -> Stop | None:
        if s.work.notification.user_id is not None and _names_variable(s, PREFERENCES_VARIABLE):
            s.variables[PREFERENCES_VARIABLE] = self.tracker.links.preferences_url(s.work.delivery.id)
        return None


def _names_variable(s: Sending, name: str) -> bool:
    """Whether any of the delivery's channel's content (any locale) mentions the variable."""
    channel = s.work.delivery.channel
    found = s.work.channels.get(channel)
    if found and _mentions(found, name):
        return True
    return any(
        _mentions(variant[channel], name) for variant in s.work.locales.values() if variant and channel in variant
    )


def _mentions(value: object, name: str) -> bool:
    if isinstance(value, str):
        return name in value
    if isinstance(value, dict):
        return any(_mentions(v, name) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions(v, name) for v in value)
    return False


class Track:
    """An email's HTML tracked (as the deployment, the template and each link allow) and its
    List-Unsubscribe headers, when it has an unsubscribe link."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    async def __call__(self, s: Sending) -> Stop | None:
        m = s.message
        if not isinstance(m, EmailMessage):
            return None
        t = self.tracker.settings
        options = s.work.tracking or {}
        opens = t.enabled and t.opens and options.get("opens", True) is not False
        clicks = t.enabled and t.clicks and options.get("clicks", True) is not False
        html = m.html
        if html:
            html = self.tracker.links.rewrite(html, s.work.delivery.id, opens=opens, clicks=clicks)
        unsubscribe = s.variables.get(UNSUBSCRIBE_VARIABLE)
        if unsubscribe is None and self.tracker.unsubscribable(s):
            unsubscribe = self.tracker.links.unsubscribe_url(s.work.delivery.id)
        headers = m.headers
        if unsubscribe:
            headers = (*headers, ("List-Unsubscribe", f"<{unsubscribe}>"), ONE_CLICK)
        if html is not m.html or headers is not m.headers:
            s.message = dataclasses.replace(m, html=html, headers=headers)
        return None
