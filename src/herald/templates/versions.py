"""The lifecycle of a template's or a layout's versions: draft, publish, restore, discard.

Written once for both kinds. At most one draft and one published version exist at a time
(partial unique indexes back this: two racing saves are a 409, not two drafts). Versions are
numbered in order of creation; publishing order is `published_at`. Who did what is an
"actor" string the caller gives: `app:<key>` from the API, `console:<email>` from the console.
The callers (templates' and layouts' services) copy a published version into their live row.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.clock import utcnow
from herald.kit.errors import DraftNotFound, HeraldError, VersionNotFound
from herald.templates import repository
from herald.templates.models import Kind, State, Version
from herald.templates.schemas import DiffOut, FieldDiff, VersionInfo, Which


@dataclass(frozen=True, slots=True)
class Authored:
    """What an author writes: the fields a version stores."""

    description: str | None
    default_locale: str
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ref:
    """One template or layout of one app."""

    app_id: uuid.UUID
    kind: Kind
    key: str


async def save_draft(session: AsyncSession, ref: Ref, body: Authored, actor: str) -> tuple[Version, bool]:
    """The draft, made or replaced by `body`; True when it was made."""
    draft = await repository.in_state(session, ref.app_id, ref.kind, ref.key, State.DRAFT)
    created = draft is None
    if draft is None:
        number = await repository.next_number(session, ref.app_id, ref.kind, ref.key)
        draft = Version(app_id=ref.app_id, kind=ref.kind.value, key=ref.key, number=number, state=State.DRAFT.value)
        draft.created_by = actor
        session.add(draft)
    draft.description, draft.default_locale, draft.content = body.description, body.default_locale, body.content
    draft.restored_from = None
    draft.updated_at, draft.updated_by = utcnow(), actor
    await session.flush()
    return draft, created


async def create_published(session: AsyncSession, ref: Ref, body: Authored, actor: str) -> Version:
    """A new version, live at once (the API's "save is live"); a pending draft is left alone."""
    number = await repository.next_number(session, ref.app_id, ref.kind, ref.key)
    # Archived until `_make_live`: neither the draft nor the live one while the old live one is.
    new = Version(app_id=ref.app_id, kind=ref.kind.value, key=ref.key, number=number, state=State.ARCHIVED.value)
    new.description, new.default_locale, new.content = body.description, body.default_locale, body.content
    new.created_by = new.updated_by = actor
    session.add(new)
    await session.flush()
    return await _make_live(session, ref, new, actor)


async def publish(session: AsyncSession, ref: Ref, actor: str) -> Version:
    """The draft becomes the live version; the one live before is archived."""
    draft = await repository.in_state(session, ref.app_id, ref.kind, ref.key, State.DRAFT)
    if draft is None:
        raise DraftNotFound(f"{ref.kind.value} {ref.key!r} has no draft to publish")
    return await _make_live(session, ref, draft, actor)


async def _make_live(session: AsyncSession, ref: Ref, version: Version, actor: str) -> Version:
    live = await repository.in_state(session, ref.app_id, ref.kind, ref.key, State.PUBLISHED)
    if live is not None:
        live.state = State.ARCHIVED.value
        await session.flush()  # before the new one: one published version at a time
    now = utcnow()
    version.state, version.published_at, version.published_by = State.PUBLISHED.value, now, actor
    await session.flush()
    return version


async def restore(session: AsyncSession, ref: Ref, number: int, actor: str) -> Version:
    """Version `number`'s content as the draft (replacing a pending one's content)."""
    old = await get(session, ref, number)
    body = Authored(old.description, old.default_locale, old.content)
    draft, _ = await save_draft(session, ref, body, actor)
    draft.restored_from = old.number
    await session.flush()
    return draft


async def discard(session: AsyncSession, ref: Ref) -> None:
    draft = await repository.in_state(session, ref.app_id, ref.kind, ref.key, State.DRAFT)
    if draft is None:
        raise DraftNotFound(f"{ref.kind.value} {ref.key!r} has no draft")
    await session.delete(draft)
    await session.flush()


async def get(session: AsyncSession, ref: Ref, number: int) -> Version:
    found = await repository.version(session, ref.app_id, ref.kind, ref.key, number)
    if found is None:
        raise VersionNotFound(f"{ref.kind.value} {ref.key!r} has no version {number}")
    return found


async def which(session: AsyncSession, ref: Ref, chosen: Which) -> Version:
    """The draft, the live version, or a numbered one."""
    if isinstance(chosen, int):
        return await get(session, ref, chosen)
    state = State.DRAFT if chosen == "draft" else State.PUBLISHED
    found = await repository.in_state(session, ref.app_id, ref.kind, ref.key, state)
    if found is None:
        error = DraftNotFound if state is State.DRAFT else VersionNotFound
        raise error(f"{ref.kind.value} {ref.key!r} has no {chosen} version")
    return found


async def history(session: AsyncSession, ref: Ref) -> list[Version]:
    return await repository.versions(session, ref.app_id, ref.kind, ref.key)


async def history_info(session: AsyncSession, ref: Ref, missing: HeraldError) -> list[VersionInfo]:
    """Every version's summary, oldest first; `missing` raised when there is none."""
    found = await history(session, ref)
    if not found:
        raise missing
    return [VersionInfo.model_validate(v) for v in found]


async def diff_of(session: AsyncSession, ref: Ref, a: int, b: int) -> DiffOut:
    """Versions `a` and `b` compared, field by field."""
    first, second = await get(session, ref, a), await get(session, ref, b)
    return DiffOut(from_version=a, to_version=b, fields=diff(first, second))


def _texts(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    """Every text field of a version, by dotted name; non-text values as canonical JSON."""
    if isinstance(value, dict):
        for name in sorted(value):
            yield from _texts(f"{prefix}.{name}" if prefix else str(name), value[name])
    elif isinstance(value, str):
        yield prefix, value
    elif value is not None:
        yield prefix, repr(value)


def diff(a: Version, b: Version) -> list[FieldDiff]:
    """A unified diff per field that differs between two versions (channel and locale fields)."""
    left = dict(_texts("", {**a.content, "description": a.description, "default_locale": a.default_locale}))
    right = dict(_texts("", {**b.content, "description": b.description, "default_locale": b.default_locale}))
    out = []
    for field in sorted(left.keys() | right.keys()):
        before, after = left.get(field, ""), right.get(field, "")
        if before == after:
            continue
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"v{a.number}/{field}",
            tofile=f"v{b.number}/{field}",
        )
        out.append(FieldDiff(field=field, diff="".join(line if line.endswith("\n") else line + "\n" for line in lines)))
    return out
