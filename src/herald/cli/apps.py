"""`herald apps`: the operator's app lifecycle: create, list, show, rotate-secret, disable,
enable, delete.

An app is named by its key (or its id). Every command brings the schema up to date first,
as `herald run` does, so it works on a fresh data directory. `--json` prints one JSON
document for scripts; a problem is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import NoReturn, TypeVar

import typer
from pydantic import BaseModel, TypeAdapter
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from herald.apps import holds, service
from herald.apps.schemas import AppOut, ChangedOut, CreatedOut, DeletedOut, RotatedOut
from herald.cli.context import migrate_db, settings
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.kit.errors import AppBusy, HeraldError, ValidationFailed
from herald.kit.uow import unit_of_work
from herald.runtime import Runtime, build_runtime

app = typer.Typer(help="Manage client apps (AppKey/AppSecret).", no_args_is_help=True)
console = Console()
T = TypeVar("T")

_JSON = typer.Option(False, "--json", help="Print JSON for scripts")
_KEY = typer.Argument(..., help="The app's key (hk_...) or id")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextlib.contextmanager
def _one_line_errors(where: str) -> Iterator[None]:
    try:
        yield
    except HeraldError as exc:
        _fail(exc.message)
    # An exception's text can carry a statement and its parameters: its type says enough.
    except RedisError as exc:
        _fail(f"cannot reach Redis ({type(exc).__name__})")
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot reach or use the database at {where} ({type(exc).__name__})")


def _run(body: Callable[[Runtime], Awaitable[T]]) -> T:
    s = settings()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    where = s.effective_database_url().split("@")[-1]
    with _one_line_errors(where):
        try:
            s.effective_secret_key()
        except RuntimeError as exc:  # production mode without a key
            _fail(str(exc))
        migrate_db(s)

        async def main() -> T:
            runtime = build_runtime(s, adapters=[])
            try:
                return await body(runtime)
            finally:
                await runtime.close()

        return asyncio.run(main())
    raise AssertionError("unreachable")  # _one_line_errors exits on every error


def _print_json(model: BaseModel) -> None:
    typer.echo(model.model_dump_json(indent=2))


def _print_credentials(key: str, secret: str) -> None:
    # Never wrapped: a secret broken over two lines is copied wrong.
    console.print(f"key      [bold]{key}[/bold]", soft_wrap=True)
    console.print(f"secret   [bold]{secret}[/bold]   (shown once: store it now)", soft_wrap=True)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return _when(value)
    return "-" if value is None else str(value)


def parse_overlap(text: str) -> timedelta:
    """'0', '90s', '15m', '24h', '2d' (a bare number is seconds)."""
    m = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not m:
        raise ValidationFailed(f"cannot read the overlap {text!r}: give e.g. 24h, 30m, 90s or 0", field="overlap")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2) or "s"])


def _table(apps: list[AppOut]) -> Table:
    """Ids are left to `show` and `--json`: a key must never be cut short to fit a terminal."""
    table = Table("name", "status", "created", "notes")
    table.add_column("key", no_wrap=True, min_width=23)
    for a in apps:
        notes = ["development"] if a.development else []
        if a.old_secret_valid_until:
            notes.append(f"old secret valid until {_when(a.old_secret_valid_until)}")
        status = "active" if a.active else "[bold red]disabled[/bold red]"
        table.add_row(a.name, status, _when(a.created_at), ", ".join(notes), a.key)
    return table


@app.command("create")
def create(name: str = typer.Argument(..., help="A name for people to recognise it by"), json: bool = _JSON) -> None:
    """Create an app; its secret is printed once and never again."""

    async def body(rt: Runtime) -> service.AppCredentials:
        async with transaction(rt.sessions) as session:
            return await service.create_app(session, name, rt.pepper)

    creds = _run(body)
    if json:
        _print_json(CreatedOut(id=creds.app_id, name=creds.name, key=creds.key, secret=creds.secret))
        return
    console.print(f"app      {creds.name}  ({creds.app_id})", soft_wrap=True)
    _print_credentials(creds.key, creds.secret)


@app.command("list")
def list_(json: bool = _JSON) -> None:
    """List apps (never their secrets)."""

    async def body(rt: Runtime) -> list[AppOut]:
        async with transaction(rt.sessions) as session:
            now = utcnow()
            return [AppOut.of(a, now) for a in await service.list_apps(session)]

    apps = _run(body)
    if json:
        typer.echo(TypeAdapter(list[AppOut]).dump_json(apps, indent=2))
        return
    console.print(_table(apps))


@app.command("show")
def show(key: str = _KEY, json: bool = _JSON) -> None:
    """One app (never its secret)."""

    async def body(rt: Runtime) -> AppOut:
        async with transaction(rt.sessions) as session:
            return AppOut.of(await service.get_app(session, key), utcnow())

    shown = _run(body)
    if json:
        _print_json(shown)
        return
    table = Table("field", "value", show_header=False)
    table.columns[1].no_wrap = True
    for field, value in shown.model_dump().items():
        table.add_row(field.replace("_", " "), _cell(value))
    console.print(table)


@app.command("rotate-secret")
def rotate_secret(
    key: str = _KEY,
    overlap: str = typer.Option("24h", help="How long the old secret keeps working: e.g. 24h, 30m, 0 (at once)"),
    json: bool = _JSON,
) -> None:
    """Give the app a new secret, printed once; the old one works for the overlap, then stops."""

    async def body(rt: Runtime) -> service.Rotation:
        async with transaction(rt.sessions) as session:
            return await service.rotate_secret(session, key, rt.pepper, parse_overlap(overlap))

    r = _run(body)
    if json:
        _print_json(RotatedOut(key=r.key, secret=r.secret, old_secret_valid_until=r.old_secret_valid_until))
        return
    _print_credentials(r.key, r.secret)
    if r.old_secret_valid_until:
        console.print(f"the old secret keeps working until {_when(r.old_secret_valid_until)}, then stops")
    else:
        console.print("the old secret no longer works")


@app.command("disable")
def disable(key: str = _KEY, json: bool = _JSON) -> None:
    """Refuse the app's requests and hold its queued deliveries (kept, not sent) until enabled."""

    async def body(rt: Runtime) -> AppOut:
        async with transaction(rt.sessions) as session:
            return AppOut.of(await service.disable_app(session, key), utcnow())

    out = _run(body)
    if json:
        _print_json(ChangedOut(app=out))
        return
    console.print(f"app {out.name} ({out.key}) disabled", soft_wrap=True)
    console.print("its requests are refused, and its deliveries are held (kept, not sent) until it is enabled")


async def _enable(rt: Runtime, key: str) -> ChangedOut:
    async with unit_of_work(rt.sessions) as uow:
        enabled = await service.enable_app(uow.session, key)
        released = set(await service.release_held(uow, rt.broker, rt.outbox, enabled.id))
    now = utcnow()
    if not service.settled(enabled, now):
        # A worker whose set of disabled apps predates the enable went on holding: its
        # holds are recorded by now, so a second sweep sends them too instead of in minutes.
        await asyncio.sleep((enabled.updated_at + holds.SETTLE - now).total_seconds())
        async with unit_of_work(rt.sessions) as uow:
            released.update(await service.release_held(uow, rt.broker, rt.outbox, enabled.id))
    return ChangedOut(app=AppOut.of(enabled, utcnow()), released=len(released))


@app.command("enable")
def enable(key: str = _KEY, json: bool = _JSON) -> None:
    """Accept the app's requests again and send its held deliveries now."""
    out = _run(lambda rt: _enable(rt, key))
    if json:
        _print_json(out)
        return
    console.print(f"app {out.app.name} ({out.app.key}) enabled", soft_wrap=True)
    console.print(f"{out.released} held deliveries released to be sent now")


async def _delete(rt: Runtime, key: str, yes: bool, json: bool) -> DeletedOut | None:
    async with transaction(rt.sessions) as session:
        target = await service.get_app(session, key)
        out = DeletedOut(app=AppOut.of(target, utcnow()), removed=await service.footprint(session, target))
    what = ", ".join(f"{n} {label}" for label, n in out.removed.items())
    typer.echo(f"Deleting app {out.app.name} ({out.app.key}) removes it and all it owns: {what}.", err=json)
    if not yes and not await asyncio.to_thread(typer.confirm, "This cannot be undone. Delete?", err=json):
        return None
    ref = str(target.id)
    if target.active:
        async with transaction(rt.sessions) as session:
            target = await service.disable_app(session, ref)
    # Wait for every worker to hold the app's work, then for sends already at a provider.
    await asyncio.sleep(max(0.0, (target.updated_at + holds.SETTLE - utcnow()).total_seconds()))
    deadline = utcnow() + rt.settings.worker.lease
    while True:
        try:
            async with transaction(rt.sessions) as session:
                await service.delete_app(session, ref)
            return out
        except AppBusy as exc:
            if utcnow() > deadline:
                raise AppBusy(f"{exc.message} (the app is disabled meanwhile)") from exc
            await asyncio.sleep(0.5)


@app.command("delete")
def delete(
    key: str = _KEY,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    json: bool = _JSON,
) -> None:
    """Delete an app with its users, devices, templates, notifications and deliveries."""
    out = _run(lambda rt: _delete(rt, key, yes, json))
    if out is None:
        _fail("nothing was deleted")
    if json:
        _print_json(out)
        return
    console.print(f"app {out.app.name} ({out.app.key}) deleted")
