"""`herald console`: the console's users from the command line: create-user (the first owner),
add-member, reset-password. Passwords are prompted (hidden) or read from standard input,
never taken as an argument (it would sit in the shell's history and the process list)."""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from herald.apps import service as apps
from herald.cli.apps import _run
from herald.console import service
from herald.console.schemas import Role
from herald.kit.db import transaction

if TYPE_CHECKING:
    from herald.runtime import Runtime

app = typer.Typer(help="Manage the console's users (/console).", no_args_is_help=True)
console = Console()

_EMAIL = typer.Argument(..., help="The user's email (case does not matter)")
_APPS = typer.Option([], "--app", help="An app's name, key or id the user is a member of (repeatable)")
_ROLE = typer.Option(Role.OWNER.value, "--role", help="owner, editor or viewer, in each --app")
_STDIN = typer.Option(False, "--password-stdin", help="Read the password from standard input")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise typer.BadParameter("owner, editor or viewer", param_hint="--role") from None


async def _app_ids(rt: Runtime, refs: list[str]) -> list[tuple[str, uuid.UUID]]:
    """Apps by key or id, or else by their exact name (one app only)."""
    out = []
    async with transaction(rt.sessions) as session:
        every = await apps.list_apps(session)
        for ref in refs:
            named = [a for a in every if a.name == ref or a.key_id == ref or str(a.id) == ref]
            if len(named) != 1:
                found = "several apps are" if named else "no app is"
                raise typer.BadParameter(f"{found} named {ref!r} (give its key or id)", param_hint="--app")
            out.append((named[0].name, named[0].id))
    return out


@app.command("create-user")
def create_user(
    email: str = _EMAIL, app_refs: list[str] = _APPS, role: str = _ROLE, password_stdin: bool = _STDIN
) -> None:
    """Create a console user, member of each --app with --role (owner by default)."""
    needed, password = _role(role), _password(password_stdin)

    async def body(rt: Runtime) -> list[str]:
        targets = await _app_ids(rt, app_refs)
        async with transaction(rt.sessions) as session:
            await service.create_user(session, email, password)
            for _, app_id in targets:
                await service.add_member(session, app_id, email, needed)
        return [name for name, _ in targets]

    names = _run(body)
    console.print(f"console user {email.strip()} created", soft_wrap=True)
    for name in names:
        console.print(f"  {needed.value} of {name}", soft_wrap=True)


@app.command("add-member")
def add_member(email: str = _EMAIL, app_refs: list[str] = _APPS, role: str = _ROLE) -> None:
    """Make an existing console user a member of each --app with --role (or change the role)."""
    needed = _role(role)
    if not app_refs:
        raise typer.BadParameter("give at least one --app", param_hint="--app")

    async def body(rt: Runtime) -> list[str]:
        targets = await _app_ids(rt, app_refs)
        async with transaction(rt.sessions) as session:
            for _, app_id in targets:
                await service.add_member(session, app_id, email, needed)
        return [name for name, _ in targets]

    for name in _run(body):
        console.print(f"{email.strip()} is {needed.value} of {name}", soft_wrap=True)


@app.command("reset-password")
def reset_password(email: str = _EMAIL, password_stdin: bool = _STDIN) -> None:
    """Set a new password; the user's sessions end and a sign-in lock is lifted."""
    password = _password(password_stdin)

    async def body(rt: Runtime) -> None:
        async with transaction(rt.sessions) as session:
            await service.reset_password(session, email, password)

    _run(body)
    console.print(f"the password of {email.strip()} is changed; every session of theirs has ended", soft_wrap=True)
