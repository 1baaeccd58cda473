"""Template rules: every version compiles, and renders within the limits, before it is saved;
publishing one copies it into the live row that sends read.

The functions take an `actor` (who does it: `app:<key>` from the API, `console:<email>` from
the console), recorded on the versions they make or publish.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.channels.registry import spec
from herald.kit.clock import utcnow
from herald.kit.errors import TemplateNotFound
from herald.kit.uow import UnitOfWork
from herald.templates import linking, repository, versions
from herald.templates.models import Kind, Template, Version
from herald.templates.render import validate
from herald.templates.schemas import DiffOut, TemplateIn, TemplateOut, TemplateVersionOut, VersionInfo, Which
from herald.templates.versions import Authored, Ref


def _ref(app_id: uuid.UUID, key: str) -> Ref:
    return Ref(app_id, Kind.TEMPLATE, key)


async def _check(content: dict[str, dict[str, Any]], prefix: str, sample: dict[str, Any]) -> None:
    for channel, fields in content.items():
        await validate(spec(channel), fields, sample, prefix)
        await asyncio.sleep(0)  # a trial render may take its whole budget; a template has many


async def _check_all(content: dict[str, Any]) -> None:
    sample = content.get("sample_data") or {}
    await _check(content.get("channels", {}), "channels", sample)
    for locale, variant in content.get("locales", {}).items():
        await _check(variant, f"locales.{locale}", sample)


async def _linked(session: AsyncSession, app_id: uuid.UUID, content: dict[str, Any], *, live: bool) -> dict[str, Any]:
    """The content with the live layouts it extends; `live`: all of them must be published."""
    sources = await repository.live_layouts(session, app_id, set(linking.named(content)))
    if live:
        linking.require(content, sources)
    return linking.link(content, sources)


def authored(body: TemplateIn) -> Authored:
    """What a version stores of a template as written."""
    stored: dict[str, Any] = {"channels": body.channels, "locales": body.locales}
    if body.sample_data is not None:
        stored["sample_data"] = body.sample_data
    if body.tracking is not None:
        stored["tracking"] = body.tracking.model_dump()
    return Authored(body.description, body.default_locale, stored)


async def _go_live(
    session: AsyncSession, app_id: uuid.UUID, v: Version, content: dict[str, Any]
) -> tuple[Template, bool]:
    t = await session.get(Template, (app_id, v.key))
    created = t is None
    if t is None:
        t = Template(app_id=app_id, key=v.key, content=content, version=v.number)
        session.add(t)
    else:
        t.content, t.version, t.updated_at = content, v.number, utcnow()
    t.description, t.default_locale = v.description, v.default_locale
    await session.flush()
    return t, created


async def put_template(
    uow: UnitOfWork, app_id: uuid.UUID, key: str, body: TemplateIn, actor: str = "api"
) -> tuple[Template, bool]:
    """Save and publish at once (a new version, live now); a pending draft is kept."""
    written = authored(body)
    content = await _linked(uow.session, app_id, written.content, live=True)
    await _check_all(content)
    v = await versions.create_published(uow.session, _ref(app_id, key), written, actor)
    return await _go_live(uow.session, app_id, v, content)


async def save_draft(
    uow: UnitOfWork, app_id: uuid.UUID, key: str, body: TemplateIn, actor: str
) -> tuple[Version, bool]:
    """Make or replace the draft; sends go on using the live version."""
    written = authored(body)
    await _check_all(await _linked(uow.session, app_id, written.content, live=False))
    return await versions.save_draft(uow.session, _ref(app_id, key), written, actor)


async def publish(uow: UnitOfWork, app_id: uuid.UUID, key: str, actor: str) -> Template:
    """The draft goes live: checked again against the layouts live now."""
    draft = await versions.which(uow.session, _ref(app_id, key), "draft")
    content = await _linked(uow.session, app_id, draft.content, live=True)
    await _check_all(content)
    v = await versions.publish(uow.session, _ref(app_id, key), actor)
    t, _ = await _go_live(uow.session, app_id, v, content)
    return t


async def restore(uow: UnitOfWork, app_id: uuid.UUID, key: str, number: int, actor: str) -> Version:
    return await versions.restore(uow.session, _ref(app_id, key), number, actor)


async def discard_draft(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> None:
    await versions.discard(uow.session, _ref(app_id, key))


async def version_of(uow: UnitOfWork, app_id: uuid.UUID, key: str, chosen: Which) -> Version:
    return await versions.which(uow.session, _ref(app_id, key), chosen)


async def history(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> list[VersionInfo]:
    missing = TemplateNotFound(f"template {key!r} does not exist", field="template")
    return await versions.history_info(uow.session, _ref(app_id, key), missing)


async def diff(uow: UnitOfWork, app_id: uuid.UUID, key: str, a: int, b: int) -> DiffOut:
    return await versions.diff_of(uow.session, _ref(app_id, key), a, b)


async def linked_content(uow: UnitOfWork, app_id: uuid.UUID, content: dict[str, Any]) -> dict[str, Any]:
    """A version's content as a send would render it, with the live layouts it extends."""
    return await _linked(uow.session, app_id, content, live=False)


def to_out(t: Template) -> TemplateOut:
    return TemplateOut(
        key=t.key,
        version=t.version,
        description=t.description,
        default_locale=t.default_locale,
        channels=linking.unlinked(t.content.get("channels", {})),
        locales={k: linking.unlinked(v) for k, v in t.content.get("locales", {}).items()},
        sample_data=t.content.get("sample_data"),
        tracking=t.content.get("tracking"),
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def version_out(v: Version) -> TemplateVersionOut:
    info = VersionInfo.model_validate(v)
    return TemplateVersionOut(
        **info.model_dump(),
        key=v.key,
        default_locale=v.default_locale,
        channels=v.content.get("channels", {}),
        locales=v.content.get("locales", {}),
        sample_data=v.content.get("sample_data"),
        tracking=v.content.get("tracking"),
    )


async def get_template(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> Template:
    t = await uow.session.get(Template, (app_id, key))
    if t is None:
        raise TemplateNotFound(f"template {key!r} does not exist", field="template")
    return t


async def delete_template(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> None:
    """The template and its whole history (a draft-only template too)."""
    t = await uow.session.get(Template, (app_id, key))
    if t is None and not await versions.history(uow.session, _ref(app_id, key)):
        raise TemplateNotFound(f"template {key!r} does not exist", field="template")
    if t is not None:
        await uow.session.delete(t)
    await repository.delete_versions(uow.session, app_id, Kind.TEMPLATE, key)


async def list_templates(uow: UnitOfWork, app_id: uuid.UUID) -> list[Template]:
    return await repository.templates_of(uow.session, app_id)


async def drafts(uow: UnitOfWork, app_id: uuid.UUID) -> list[Version]:
    """The app's template drafts, a draft-only template (never published) among them."""
    return await repository.drafts_of(uow.session, app_id, Kind.TEMPLATE)


async def exists(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> bool:
    """A template of this key has a version, live or not."""
    return bool(await versions.history(uow.session, _ref(app_id, key)))
