"""Production mode refuses to start with development defaults, and says which."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from herald.apps.service import create_app
from herald.cli.context import refuse_unsafe
from herald.cli.main import app as cli
from herald.config import Mode, Settings
from herald.kit.db import make_engine, make_sessionmaker, transaction
from herald.migrations import upgrade

STRONG = "k" * 40


def test_development_mode_has_no_problems_with_its_defaults(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).production_problems() == []


def test_production_names_each_development_default(tmp_path: Path) -> None:
    def problems(**kw: object) -> list[str]:
        return Settings(mode=Mode.PRODUCTION, data_dir=tmp_path, **kw).production_problems()  # type: ignore[arg-type]

    public = {"public_url": "https://herald.example.com"}
    assert problems() == [
        "HERALD_SECRET_KEY is not set",
        "HERALD_API__PUBLIC_URL is not set (the base of the links in messages)",
    ]
    assert problems(api=public) == ["HERALD_SECRET_KEY is not set"]
    assert "shorter than 32" in problems(secret_key=SecretStr("short"))[0]
    generated = tmp_path / "secret.key"
    generated.write_text("g" * 43)  # what development mode wrote there
    assert "development key generated in" in problems(secret_key=SecretStr("g" * 43))[0]
    assert problems(secret_key=SecretStr(STRONG), api=public) == []
    assert "HERALD_METRICS__TOKEN" in problems(secret_key=SecretStr(STRONG), metrics={"token": "abc"})[0]


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        (["worker", "--channel", "email"], {}, "HERALD_SECRET_KEY is not set"),
        (["api"], {"HERALD_SECRET_KEY": "tiny"}, "shorter than 32"),
        (["run"], {"HERALD_SECRET_KEY": STRONG}, "sandbox is on"),
    ],
)
def test_the_processes_refuse_to_start(
    command: list[str], env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_MODE", "production")
    monkeypatch.setenv("HERALD_API__PUBLIC_URL", "https://herald.example.com")
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HERALD_SECRET_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    assert "refuses to start in production mode" in result.output and expected in result.output
    assert not (tmp_path / "herald.db").exists()  # refused before touching anything


def test_an_enabled_development_app_keeps_production_from_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'herald.db'}"
    upgrade(url)

    async def make(development: bool) -> str:
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return (await create_app(session, "an app", "pepper", development=development)).key
        finally:
            await engine.dispose()

    asyncio.run(make(False))
    dev_key = asyncio.run(make(True))
    monkeypatch.setenv("HERALD_MODE", "production")
    monkeypatch.setenv("HERALD_API__PUBLIC_URL", "https://herald.example.com")
    monkeypatch.setenv("HERALD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HERALD_SECRET_KEY", STRONG)
    result = CliRunner().invoke(cli, ["worker", "--channel", "email"])
    assert result.exit_code == 2, result.output
    assert f"herald apps delete {dev_key}" in result.output.replace("\n", "")
    deleted = CliRunner().invoke(cli, ["apps", "delete", dev_key, "--yes"])
    assert deleted.exit_code == 0, deleted.output
    refuse_unsafe(Settings())  # with the development app gone, nothing is refused
