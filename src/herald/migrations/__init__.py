"""Alembic migrations, driven from code so an installed Herald needs no alembic.ini."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Dialect

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at these migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to run on every start."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


# Alembic's `include_object(object, name, type_, reflected, compare_to)`.
IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def on_backend(dialect: Dialect) -> IncludeObject:
    """Alembic's `include_object` for autogenerate on `dialect`: the models' objects that
    `ddl_if` keeps off this backend (an index only PostgreSQL has) are not missing from it.
    Alembic compares them regardless of `ddl_if`."""

    def include(obj: Any, _name: str | None, _type: str, reflected: bool, _compare_to: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return reflected or ddl_if is None or ddl_if.dialect in (None, dialect.name)

    return include
