"""`herald run` and `herald migrate`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from herald.apps import service as apps
from herald.cli.context import migrate_db, refuse_unsafe, settings
from herald.config import Mode, Settings
from herald.console import service as console_users
from herald.kit import filelock, heap
from herald.kit.db import transaction
from herald.kit.egress import EgressPolicy
from herald.queue.recovery import expire_orphaned_leases
from herald.runtime import Runtime, build_runtime
from herald.serve import serve_all

if TYPE_CHECKING:
    from herald.sandbox.stack import SandboxStack

console = Console()


def migrate() -> None:
    """Apply every migration; safe to run repeatedly."""
    s = settings()
    migrate_db(s)
    console.print(f"database is up to date: {s.effective_database_url().split('@')[-1]}")


async def _first_app(runtime: Runtime) -> None:
    async with transaction(runtime.sessions) as session:
        if await apps.list_apps(session):
            return
        if runtime.settings.mode is Mode.PRODUCTION:
            console.print("No app yet: create one with `herald apps create NAME`.")
            return
        creds = await apps.create_app(session, "development", runtime.pepper, development=True)
    console.print("[bold]A development app was created.[/bold] Its secret is shown only this once:")
    console.print(f"  HERALD_APP_KEY={creds.key}")
    console.print(f"  HERALD_APP_SECRET={creds.secret}")


async def _first_console_user(runtime: Runtime) -> None:
    """With no console user yet: in development with the sandbox, an owner of every app with a
    random password printed this once (what `make run` is for: look around at once); else
    how to create one."""
    settings = runtime.settings
    url = f"{settings.effective_public_url()}/console/"
    if settings.mode is Mode.PRODUCTION or not settings.sandbox.enabled:
        async with transaction(runtime.sessions) as session:
            if await console_users.any_user(session):
                return
        console.print(f"Console      {url}   no user yet: herald console create-user EMAIL --app APP")
        return
    async with transaction(runtime.sessions) as session:
        created = await console_users.sandbox_owner(session)
    if created is None:
        console.print(f"Console      {url}")
        return
    email, password = created
    console.print(f"Console      {url}   a sandbox owner was created; its password is shown only this once:")
    console.print(f"  email    {email}", soft_wrap=True)
    console.print(f"  password {password}", soft_wrap=True)


async def _run(s: Settings, *, alone: bool) -> None:
    stack: SandboxStack | None = None
    if s.sandbox.enabled:
        # Imported here: only the command that starts the simulators loads them.
        from herald.sandbox.stack import start_sandbox

        stack = await start_sandbox(
            s.sandbox,
            from_address=s.smtp.from_address,
            egress=EgressPolicy.from_settings(s),
            callbacks_to=s.api.public_url or f"http://{s.api.host}:{s.api.port}",
        )
    runtime = build_runtime(
        s,
        adapters=stack.adapters if stack else None,
        single_process=True,
        provider_configs=stack.configs if stack else None,
    )
    if alone:
        await expire_orphaned_leases(runtime.sessions)

    async def ready() -> None:
        await _first_app(runtime)
        heap.settle()
        console.print(f"Herald API   http://{s.api.host}:{s.api.port}   (docs: /docs)")
        await _first_console_user(runtime)
        if stack is not None:
            console.print(f"Sandbox      {stack.base_url}/_sandbox/   (the inbox; or herald sandbox inbox)")
        console.print(f"Database     {s.effective_database_url().split('@')[-1]}")

    try:
        await serve_all(s, runtime, on_ready=ready)
    finally:
        await runtime.close()
        if stack is not None:
            await stack.stop()


def run() -> None:
    """Migrate, then serve the API, workers, scheduler and sandbox until interrupted."""
    s = settings()
    refuse_unsafe(s, sandbox=True)
    try:
        # On SQLite: the one process on its database, so whatever it finds `sending` is a
        # dead predecessor's, re-driven at once instead of after the lease.
        alone = filelock.hold(s.effective_database_url(), exclusive=True)
    except filelock.DatabaseInUse as exc:
        console.print(f"[red]herald run: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    migrate_db(s)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional in spirit
        pass
    asyncio.run(_run(s, alone=alone))
