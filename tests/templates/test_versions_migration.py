"""Migration 0012 on each backend: every existing template becomes its one published version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert, select

from herald.migrations import alembic_config
from herald.templates.models import Template, Version
from tests.test_migrations import _at, apps_since_0005


def test_an_existing_template_becomes_its_published_version(database_url: str) -> None:
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0011")
    app_id = uuid.uuid4()
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    content = {"channels": {"sms": {"text": "Hi {{ name }}"}}, "locales": {}}
    app = {"id": app_id, "name": "a", "key_id": "hk_m", "secret_hash": "h", "active": True, "created_at": at}
    template = {
        "app_id": app_id, "key": "t", "description": "d", "default_locale": "de",
        "content": content, "version": 4, "created_at": at, "updated_at": at,
    }  # fmt: skip
    _at(
        database_url,
        insert(apps_since_0005()).values(**app, updated_at=at),
        insert(Template.__table__).values(**template),  # type: ignore[arg-type]
    )
    command.upgrade(cfg, "head")
    rows = _at(
        database_url,
        select(
            Version.kind, Version.key, Version.number, Version.state, Version.content, Version.default_locale,
            Version.published_by,
        ).where(Version.app_id == app_id),
    )  # fmt: skip
    assert rows == [("template", "t", 4, "published", content, "de", "migration")]
    command.downgrade(cfg, "0011")
    assert _at(database_url, select(Template.key, Template.version)) == [("t", 4)]
    command.upgrade(cfg, "head")
