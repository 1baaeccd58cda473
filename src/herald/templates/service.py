"""Template storage rules: every template compiles, and renders within the limits, before it is saved."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from herald.channels.registry import spec
from herald.kit.clock import utcnow
from herald.kit.errors import TemplateNotFound
from herald.kit.uow import UnitOfWork
from herald.templates.models import Template
from herald.templates.render import validate
from herald.templates.schemas import TemplateIn, TemplateOut


async def _check(content: dict[str, dict[str, Any]], prefix: str, sample: dict[str, Any]) -> None:
    for channel, fields in content.items():
        await validate(spec(channel), fields, sample, prefix)
        await asyncio.sleep(0)  # a trial render may take its whole budget; a template has many


def to_out(t: Template) -> TemplateOut:
    return TemplateOut(
        key=t.key,
        version=t.version,
        description=t.description,
        default_locale=t.default_locale,
        channels=t.content.get("channels", {}),
        locales=t.content.get("locales", {}),
        sample_data=t.content.get("sample_data"),
        tracking=t.content.get("tracking"),
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


async def put_template(uow: UnitOfWork, app_id: uuid.UUID, key: str, body: TemplateIn) -> tuple[Template, bool]:
    sample = body.sample_data or {}
    await _check(body.channels, "channels", sample)
    for locale, variant in body.locales.items():
        await _check(variant, f"locales.{locale}", sample)
    stored: dict[str, Any] = {
        "channels": body.channels,
        "locales": body.locales,
    }
    if body.sample_data is not None:
        stored["sample_data"] = body.sample_data
    if body.tracking is not None:
        stored["tracking"] = body.tracking.model_dump()
    t = await uow.session.get(Template, (app_id, key))
    created = t is None
    if t is None:
        t = Template(app_id=app_id, key=key, content=stored, version=1)
        uow.session.add(t)
    else:
        t.content, t.version, t.updated_at = stored, t.version + 1, utcnow()
    t.description, t.default_locale = body.description, body.default_locale
    await uow.session.flush()
    return t, created


async def get_template(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> Template:
    t = await uow.session.get(Template, (app_id, key))
    if t is None:
        raise TemplateNotFound(f"template {key!r} does not exist", field="template")
    return t


async def delete_template(uow: UnitOfWork, app_id: uuid.UUID, key: str) -> None:
    t = await get_template(uow, app_id, key)
    await uow.session.delete(t)


async def list_templates(uow: UnitOfWork, app_id: uuid.UUID) -> list[Template]:
    rows = await uow.session.scalars(select(Template).where(Template.app_id == app_id).order_by(Template.key))
    return list(rows.all())
