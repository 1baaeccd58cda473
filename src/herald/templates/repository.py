"""Templates' SQL: live content in bulk for the intake and the workers, versions for editing."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Executable, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.kit.db import dialect_name, in_list
from herald.templates.models import Kind, Layout, State, Template, Version

TemplateKey = tuple[uuid.UUID, str]  # (app id, template key)


@functools.cache
def _contents_query(dialect: str) -> Executable:
    """Built once per backend; by each key column's set of values (the primary key serves
    that), with the exact pairs picked out after, so any batch is one SQL text."""
    return select(Template.app_id, Template.key, Template.content).where(
        in_list(Template.app_id, "apps", dialect), in_list(Template.key, "keys", dialect)
    )


async def contents(on: AsyncSession | AsyncConnection, keys: set[TemplateKey]) -> dict[TemplateKey, dict[str, Any]]:
    """Each found template's stored content (`channels`, `locales`); absent keys are missing."""
    if not keys:
        return {}
    params = {"apps": list({a for a, _ in keys}), "keys": list({k for _, k in keys})}
    rows = await on.execute(_contents_query(dialect_name(on)), params)
    return {(app_id, key): content for app_id, key, content in rows if (app_id, key) in keys}


@functools.cache
def _live_query(dialect: str) -> Executable:
    return select(Template.app_id, Template.key, Template.content, Template.version).where(
        in_list(Template.app_id, "apps", dialect), in_list(Template.key, "keys", dialect)
    )


async def live(
    on: AsyncSession | AsyncConnection, keys: set[TemplateKey]
) -> dict[TemplateKey, tuple[dict[str, Any], int]]:
    """As `contents`, with each template's live version number (the intake records it)."""
    if not keys:
        return {}
    params = {"apps": list({a for a, _ in keys}), "keys": list({k for _, k in keys})}
    rows = await on.execute(_live_query(dialect_name(on)), params)
    return {(a, k): (content, version) for a, k, content, version in rows if (a, k) in keys}


def _of(app_id: uuid.UUID, kind: Kind, key: str) -> list[ColumnElement[bool]]:
    return [Version.app_id == app_id, Version.kind == kind.value, Version.key == key]


async def versions(session: AsyncSession, app_id: uuid.UUID, kind: Kind, key: str) -> list[Version]:
    """Every version of one template or layout, newest first."""
    rows = await session.scalars(select(Version).where(*_of(app_id, kind, key)).order_by(Version.number.desc()))
    return list(rows.all())


async def version(session: AsyncSession, app_id: uuid.UUID, kind: Kind, key: str, number: int) -> Version | None:
    return await session.get(Version, (app_id, kind.value, key, number))


async def in_state(session: AsyncSession, app_id: uuid.UUID, kind: Kind, key: str, state: State) -> Version | None:
    """The draft, or the live version (at most one each)."""
    found = await session.scalars(select(Version).where(*_of(app_id, kind, key), Version.state == state.value))
    return found.first()


async def next_number(session: AsyncSession, app_id: uuid.UUID, kind: Kind, key: str) -> int:
    top = await session.scalar(select(func.max(Version.number)).where(*_of(app_id, kind, key)))
    return int(top or 0) + 1


async def delete_versions(session: AsyncSession, app_id: uuid.UUID, kind: Kind, key: str) -> None:
    await session.execute(delete(Version).where(*_of(app_id, kind, key)))


async def live_layouts(session: AsyncSession, app_id: uuid.UUID, keys: set[str]) -> dict[str, dict[str, Any]]:
    """The live content of these layouts of one app (its html or its mjml); unpublished ones are missing."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Layout.key, Layout.content).where(Layout.app_id == app_id, Layout.key.in_(keys))
    )
    return {key: content for key, content in rows}


async def drafts_of(session: AsyncSession, app_id: uuid.UUID, kind: Kind) -> list[Version]:
    """An app's drafts of one kind (a console lists them next to the live rows)."""
    where = [Version.app_id == app_id, Version.kind == kind.value, Version.state == State.DRAFT.value]
    rows = await session.scalars(select(Version).where(*where).order_by(Version.key))
    return list(rows.all())


async def templates_of(session: AsyncSession, app_id: uuid.UUID) -> list[Template]:
    rows = await session.scalars(select(Template).where(Template.app_id == app_id).order_by(Template.key))
    return list(rows.all())


async def layouts_of(session: AsyncSession, app_id: uuid.UUID) -> list[Layout]:
    rows = await session.scalars(select(Layout).where(Layout.app_id == app_id).order_by(Layout.key))
    return list(rows.all())
