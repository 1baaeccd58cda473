"""What a user's hosted preference page lists, and what its form changes.

The page is the app's catalogue of categories (plus any category the user already has a
preference for) by every channel, each switch showing whether that category reaches the
user on that channel now (`rules.allows`: the most specific rule wins). A saved form writes
a category x channel rule only where a switch was moved, so the user's other rules (a
whole channel turned off by an unsubscribe link, say) stay as they were. Critical
categories are shown on and locked, and a posted value for one is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from herald.apps import service as apps
from herald.apps.schemas import CategoryDef
from herald.cache.interface import ContactCache
from herald.kit.channels import Channel
from herald.kit.uow import UnitOfWork
from herald.preferences import service
from herald.preferences.access import InvalidPreferencesLink
from herald.preferences.branding import Palette
from herald.preferences.rules import allows
from herald.preferences.schemas import CategoryPreference, PreferencesDoc

# How the page names the built-in channels; a channel added later shows its own name.
CHANNEL_LABELS = {"email": "Email", "sms": "Text messages (SMS)", "push": "Push notifications", "in_app": "In the app"}


@dataclass(frozen=True, slots=True)
class Switch:
    """One category on one channel: `field` is how the form names it."""

    channel: str
    label: str
    on: bool
    field: str


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    name: str
    description: str | None
    critical: bool
    switches: list[Switch]


@dataclass(frozen=True, slots=True)
class Page:
    """Everything the page shows, and the preferences it was built from."""

    title: str
    palette: Palette
    rows: list[Row]
    doc: PreferencesDoc


def field_of(channel: str, category: str) -> str:
    # A channel's name has no dot; a category's may, so the first dot splits them.
    return f"{channel}.{category}"


def rows(catalogue: list[CategoryDef], doc: PreferencesDoc, channels: list[str]) -> list[Row]:
    """The catalogue in its order, then the user's own other categories by key."""
    rules = service.rules_of(doc)
    listed = [(c.key, c.name, c.description, c.critical) for c in catalogue]
    known = {c.key for c in catalogue}
    listed += [(key, key, None, False) for key in sorted(doc.categories) if key not in known]
    out = []
    for key, name, description, critical in listed:
        switches = [
            Switch(ch, CHANNEL_LABELS.get(ch, ch), critical or allows(rules, ch, key), field_of(ch, key))
            for ch in channels
        ]
        out.append(Row(key, name, description, critical, switches))
    return out


def changed(page_rows: list[Row], doc: PreferencesDoc, shown: Collection[str], on: Collection[str]) -> PreferencesDoc:
    """`doc` with a rule for each switch the form showed and the user moved; critical rows and
    anything the page did not show (a field made up, a category added since) are ignored."""
    new = doc.model_copy(deep=True)
    for row in page_rows:
        if row.critical:
            continue
        for switch in row.switches:
            want = switch.field in on
            if switch.field in shown and want != switch.on:
                pref = new.categories.setdefault(row.key, CategoryPreference())
                pref.channels[Channel(switch.channel)] = want
    return new


async def load(uow: UnitOfWork, app_id: uuid.UUID, user_id: str) -> Page:
    """The user's page; InvalidPreferencesLink for a disabled app, UserNotFound for a user since deleted."""
    settings = await apps.page_settings(uow.session, app_id)
    if not settings.active:
        raise InvalidPreferencesLink()
    doc = await service.get_preferences(uow, app_id, user_id)
    title = settings.branding.name or settings.name
    page_rows = rows(settings.categories, doc, [c.value for c in Channel.all()])
    return Page(title, Palette.of(settings.branding.colour), page_rows, doc)


async def save(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, shown: set[str], on: set[str]
) -> Page:
    """Apply the form through the preferences service (its rules, its cache invalidation)."""
    page = await load(uow, app_id, user_id)
    new = changed(page.rows, page.doc, shown, on)
    if new != page.doc:
        await service.replace_preferences(uow, cache, app_id, user_id, new)
    return page
