"""`herald console` as an operator runs it (in process, with the environment a shell gives it),
and the sandbox owner `herald run` makes on a fresh development database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from herald.apps.service import create_app as create_client_app
from herald.cli.main import app as herald
from herald.cli.run import _first_console_user
from herald.config import Settings
from herald.console import service
from herald.console.schemas import NewSession, Role
from herald.kit.db import transaction
from herald.runtime import Runtime, build_runtime

PASSWORD = "a long enough password"


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "HERALD_DATA_DIR": str(tmp_path),
        "HERALD_DATABASE_URL": database_url,
        "HERALD_SECRET_KEY": "test-secret-key",
    }


async def _roles(settings: Settings, email: str) -> dict[str, str]:
    rt = build_runtime(settings, adapters=[])
    try:
        async with transaction(rt.sessions) as session:
            user = await service.user_by_email(session, email)
            sess = await service.open_session(session, settings.console, user)
            who = await service.signed_in(session, settings.console, sess.token)
        assert who is not None
        return {a.name: a.role.value for a in who.apps}
    finally:
        await rt.close()


async def _app(settings: Settings, name: str) -> str:
    rt = build_runtime(settings, adapters=[])
    try:
        async with transaction(rt.sessions) as session:
            return (await create_client_app(session, name, rt.pepper)).key
    finally:
        await rt.close()


def test_create_user_add_member_and_reset_password(tmp_path: Path, database_url: str, settings: Settings) -> None:
    runner, env = CliRunner(), _env(tmp_path, database_url)
    asyncio.run(_app(settings, "shop"))
    blog_key = asyncio.run(_app(settings, "blog"))
    made = runner.invoke(
        herald, ["console", "create-user", "Ops@Example.com", "--app", "shop", "--password-stdin"],
        input=PASSWORD + "\n", env=env,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.output
    again = runner.invoke(
        herald, ["console", "create-user", "ops@example.com", "--password-stdin"], input=PASSWORD, env=env
    )
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(
        herald, ["console", "create-user", "b@example.com", "--password-stdin"], input="short", env=env
    )
    assert short.exit_code == 1 and "12 to 256 characters" in short.output
    added = runner.invoke(
        herald, ["console", "add-member", "ops@example.com", "--app", "blog", "--role", "viewer"], env=env
    )
    assert added.exit_code == 0, added.output
    assert asyncio.run(_roles(settings, "ops@example.com")) == {"shop": "owner", "blog": "viewer"}
    by_key = runner.invoke(
        herald, ["console", "add-member", "ops@example.com", "--app", blog_key, "--role", "editor"], env=env
    )
    assert by_key.exit_code == 0, by_key.output
    assert asyncio.run(_roles(settings, "ops@example.com")) == {"shop": "owner", "blog": "editor"}
    reset = runner.invoke(
        herald,
        ["console", "reset-password", "OPS@example.com", "--password-stdin"],
        input="another long password",
        env=env,
    )
    assert reset.exit_code == 0, reset.output
    nobody = runner.invoke(
        herald, ["console", "reset-password", "no@example.com", "--password-stdin"], input=PASSWORD, env=env
    )
    assert nobody.exit_code == 1 and "no console user" in nobody.output


async def test_herald_run_makes_a_sandbox_owner_once(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    async with transaction(runtime.sessions) as session:
        await create_client_app(session, "development", runtime.pepper, development=True)
    await _first_console_user(runtime)
    printed = capsys.readouterr().out
    assert service.SANDBOX_EMAIL in printed and "/console/" in printed
    password = printed.split("password")[-1].split()[0]
    async with transaction(runtime.sessions) as session:
        signed = await service.sign_in(session, runtime.settings.console, service.SANDBOX_EMAIL, password, "127.0.0.1")
        assert isinstance(signed, NewSession)
        who = await service.signed_in(session, runtime.settings.console, signed.token)
    assert who is not None and [a.role for a in who.apps] == [Role.OWNER]
    await _first_console_user(runtime)
    assert password not in capsys.readouterr().out
