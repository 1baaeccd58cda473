"""What every CLI command shares: settings, logging, and a database session."""

from __future__ import annotations

import asyncio
import logging

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from herald.apps.repository import development_keys
from herald.config import Mode, Settings
from herald.kit import filelock
from herald.kit.db import make_engine
from herald.migrations import upgrade


def settings() -> Settings:
    s = Settings()
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return s


def migrate_db(s: Settings) -> None:
    upgrade(s.effective_database_url())


def refuse_unsafe(s: Settings, *, sandbox: bool = False) -> None:
    """Production mode with a development default refuses to start, saying which and why.

    `sandbox`: this process would start the provider simulators (`herald run`), which in
    production would swallow every message instead of sending it.
    """
    problems = s.production_problems()
    if sandbox and s.mode is Mode.PRODUCTION and s.sandbox.enabled:
        problems.append("the provider sandbox is on (HERALD_SANDBOX__ENABLED=false sends to the real providers)")
    if s.mode is Mode.PRODUCTION:
        problems += [
            f"the development app {key} that `herald run` created is enabled (`herald apps delete {key}`)"
            for key in asyncio.run(_development_keys(s))
        ]
    if problems:
        err = Console(stderr=True)
        err.print("[red]Herald refuses to start in production mode with development defaults:[/red]")
        for problem in problems:
            err.print(f"  - {problem}", soft_wrap=True)
        raise typer.Exit(2)


async def _development_keys(s: Settings) -> list[str]:
    """Development apps in the database; none where there is no database (or no schema) yet."""
    url = s.effective_database_url()
    path = filelock.lock_path(url)
    if path is not None and not path.with_suffix("").exists():
        return []
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await development_keys(conn)
    except (DBAPIError, OSError):
        return []  # unreachable or not migrated: the process says so itself when it starts
    finally:
        await engine.dispose()
