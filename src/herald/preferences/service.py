"""Reading and replacing a user's preferences."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from herald.cache.interface import ContactCache
from herald.kit.channels import Channel
from herald.kit.db import upsert_insert
from herald.kit.uow import UnitOfWork
from herald.preferences.models import ANY, Preference
from herald.preferences.rules import Rules
from herald.preferences.schemas import CategoryPreference, PreferencesDoc
from herald.recipients.service import require_user


def _rows(doc: PreferencesDoc) -> list[tuple[str, str, bool]]:
    rows = [(ch.value, ANY, on) for ch, on in doc.channels.items()]
    for cat, pref in doc.categories.items():
        if pref.enabled is not None:
            rows.append((ANY, cat, pref.enabled))
        rows.extend((ch.value, cat, on) for ch, on in pref.channels.items())
    return rows


def rules_of(doc: PreferencesDoc) -> Rules:
    """The document as the rules `rules.allows` decides with."""
    return {(ch, cat): on for ch, cat, on in _rows(doc)}


async def get_preferences(uow: UnitOfWork, app_id: uuid.UUID, user_id: str) -> PreferencesDoc:
    await require_user(uow, app_id, user_id)
    rows = await uow.session.scalars(
        select(Preference).where(Preference.app_id == app_id, Preference.user_id == user_id)
    )
    doc = PreferencesDoc()
    for p in rows:
        if p.category == ANY:
            doc.channels[Channel(p.channel)] = p.enabled
            continue
        cat = doc.categories.setdefault(p.category, CategoryPreference())
        if p.channel == ANY:
            cat.enabled = p.enabled
        else:
            cat.channels[Channel(p.channel)] = p.enabled
    return doc


async def replace_preferences(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, doc: PreferencesDoc
) -> PreferencesDoc:
    await require_user(uow, app_id, user_id)
    await uow.session.execute(delete(Preference).where(Preference.app_id == app_id, Preference.user_id == user_id))
    uow.session.add_all(
        Preference(app_id=app_id, user_id=user_id, channel=ch, category=cat, enabled=on) for ch, cat, on in _rows(doc)
    )
    await uow.session.flush()

    async def hook() -> None:
        await cache.invalidate(app_id, user_id)

    uow.after_commit(hook)
    return await get_preferences(uow, app_id, user_id)


async def opt_out(
    uow: UnitOfWork, cache: ContactCache, app_id: uuid.UUID, user_id: str, channel: str, category: str | None
) -> None:
    """Turn off one rule, `channel` x `category` (no category: the whole channel), leaving the
    user's other preferences as they are (an unsubscribe link). The user must exist."""
    await require_user(uow, app_id, user_id)
    row = {"app_id": app_id, "user_id": user_id, "channel": channel, "category": category or ANY, "enabled": False}
    stmt = upsert_insert(uow.session, Preference).values(**row)
    key = ["app_id", "user_id", "channel", "category"]
    stmt = stmt.on_conflict_do_update(index_elements=key, set_={"enabled": False})
    await uow.session.execute(stmt)

    async def hook() -> None:
        await cache.invalidate(app_id, user_id)

    uow.after_commit(hook)
