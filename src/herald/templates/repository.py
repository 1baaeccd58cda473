"""Reading template content in bulk, for the intake's validation and the workers' rendering."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.kit.db import dialect_name, in_list
from herald.templates.models import Template

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
