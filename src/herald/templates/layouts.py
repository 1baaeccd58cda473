"""Layout rules: a shared email frame (header, footer, styles) that templates' html extends.

A layout is versioned like a template (`versions`). Publishing one copies its html into the
live row (`layouts`) and into every live template whose email extends it (`linking.relink`),
in the same transaction: the next send renders with it, and a template's own version number
does not change (its content did not).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.clock import utcnow
from herald.kit.errors import HeraldError, InvalidTemplate, LayoutNotFound
from herald.kit.uow import UnitOfWork
from herald.templates import linking, repository, versions
from herald.templates.compiler import compiled_async, extended
from herald.templates.models import Kind, Layout, Version
from herald.templates.render import Fields
from herald.templates.responsive import settled
from herald.templates.schemas import DiffOut, LayoutIn, LayoutOut, LayoutVersionOut, VersionInfo, Which
from herald.templates.versions import Authored, Ref


def _ref(app_id: uuid.UUID, key: str) -> Ref:
    return Ref(app_id, Kind.LAYOUT, key)


async def _authored(body: LayoutIn) -> Authored:
    """A layout compiles as html and stands alone (one level of extending, no more); one in
    MJML also makes MJML that compiles, its blocks as they are."""
    field, source = body.source()
    try:
        await compiled_async(source, True)
        if field == "mjml":
            await settled(lambda: Fields({}, True).mjml(source, field=field))
    except InvalidTemplate as exc:
        exc.field = field
        raise
    except HeraldError:
        pass  # what the data decides is checked with each template extending it
    if extended(source):
        raise InvalidTemplate("a layout cannot extend another layout", field=field)
    return Authored(body.description, "en", {field: source})


async def _go_live(session: AsyncSession, app_id: uuid.UUID, v: Version) -> Layout:
    layout = await session.get(Layout, (app_id, v.key))
    if layout is None:
        layout = Layout(app_id=app_id, key=v.key, content=v.content, version=v.number)
        session.add(layout)
    else:
        layout.content, layout.version, layout.updated_at = v.content, v.number, utcnow()
    layout.description = v.description
    await _relink(session, app_id, v.key, v.content)
    await session.flush()
    return layout


async def _relink(session: AsyncSession, app_id: uuid.UUID, key: str, written: dict[str, Any]) -> None:
    for t in await repository.templates_of(session, app_id):
        try:
            content: dict[str, Any] | None = linking.relink(t.content, key, written)
        except InvalidTemplate as exc:
            field = next(iter(written))
            raise InvalidTemplate(
                f"the live template {t.key!r} extends this layout from {exc.field}: a layout in use keeps "
                "its language (html or MJML)",
                field=field,
            ) from exc
        if content is not None:
            t.content, t.updated_at = content, utcnow()


async def put_layout(uow: UnitOfWork, app_id: uuid.UUID, key: str, body: LayoutIn, actor: str) -> tuple[Layout, bool]:
    """Save and publish at once; a pending draft is kept."""
    existed = await uow.session.get(Layout, (app_id, key)) is not None
    v = await versions.create_published(uow.session, _ref(app_id, key), await _authored(body), actor)
    return await _go_live(uow.session, app_id, v), not existed


async def save_draft(uow: UnitOfWork, app_id: uuid.UUID, key: str, body: LayoutIn, actor: str) -> tuple[Version, bool]:
    return await versions.save_draft(uow.session, _ref(app_id, key), await _authored(body), actor)


async def publish(uow: UnitOfWork, app_id: uuid.UUID, key: str, actor: str) -> Layout:
    v = await versions.publish(uow.session, _ref(app_id, key), actor)
    return await _go_live(uow.session, app_id, v)


async def restore(uow: UnitOfWork, app_id: uuid.UUID, key: str, number: int, actor: str) -> Version:
    return await versions.restore(uow.session, _ref(app_id, key), number, actor)


async def discard_draft(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> None:
    await versions.discard(uow.session, _ref(app_id, key))


async def version_of(uow: UnitOfWork, app_id: uuid.UUID, key: str, chosen: Which) -> Version:
    return await versions.which(uow.session, _ref(app_id, key), chosen)


async def history(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> list[VersionInfo]:
    missing = LayoutNotFound(f"layout {key!r} does not exist", field="layout")
    return await versions.history_info(uow.session, _ref(app_id, key), missing)


async def diff(uow: UnitOfWork, app_id: uuid.UUID, key: str, a: int, b: int) -> DiffOut:
    return await versions.diff_of(uow.session, _ref(app_id, key), a, b)


async def get_layout(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> Layout:
    layout = await uow.session.get(Layout, (app_id, key))
    if layout is None:
        raise LayoutNotFound(f"layout {key!r} is not published", field="layout")
    return layout


async def list_layouts(uow: UnitOfWork, app_id: uuid.UUID) -> list[Layout]:
    return await repository.layouts_of(uow.session, app_id)


def to_out(layout: Layout) -> LayoutOut:
    return LayoutOut(
        key=layout.key,
        version=layout.version,
        description=layout.description,
        html=layout.content.get("html"),
        mjml=layout.content.get("mjml"),
        created_at=layout.created_at,
        updated_at=layout.updated_at,
    )


def version_out(v: Version) -> LayoutVersionOut:
    info = VersionInfo.model_validate(v).model_dump()
    return LayoutVersionOut(**info, key=v.key, html=v.content.get("html"), mjml=v.content.get("mjml"))


async def drafts(uow: UnitOfWork, app_id: uuid.UUID) -> list[Version]:
    """The app's layout drafts, a never-published layout among them."""
    return await repository.drafts_of(uow.session, app_id, Kind.LAYOUT)


async def exists(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> bool:
    """A layout of this key has a version, live or not."""
    return bool(await versions.history(uow.session, _ref(app_id, key)))
