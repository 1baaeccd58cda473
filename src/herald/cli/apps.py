"""`herald apps`: client app administration."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from herald.apps import service
from herald.cli.context import migrate_db, settings
from herald.kit.db import make_engine, make_sessionmaker, transaction

app = typer.Typer(help="Manage client apps (AppKey/AppSecret).", no_args_is_help=True)
console = Console()


async def _create(name: str) -> service.AppCredentials:
    s = settings()
    migrate_db(s)
    engine = make_engine(s.effective_database_url())
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await service.create_app(session, name, s.effective_secret_key().get_secret_value())
    finally:
        await engine.dispose()


@app.command("create")
def create(name: str) -> None:
    """Create an app; its secret is printed once and never again."""
    creds = asyncio.run(_create(name))
    console.print(f"app      {creds.name}  ({creds.app_id})")
    console.print(f"key      [bold]{creds.key}[/bold]")
    console.print(f"secret   [bold]{creds.secret}[/bold]   (shown once: store it now)")


async def _list() -> list[tuple[str, str, str, bool]]:
    s = settings()
    engine = make_engine(s.effective_database_url())
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return [(str(a.id), a.name, a.key_id, a.active) for a in await service.list_apps(session)]
    finally:
        await engine.dispose()


@app.command("list")
def list_() -> None:
    """List apps (never their secrets)."""
    table = Table("id", "name", "key", "active")
    for row in asyncio.run(_list()):
        table.add_row(row[0], row[1], row[2], str(row[3]))
    console.print(table)
