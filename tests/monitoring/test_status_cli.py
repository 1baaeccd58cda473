"""`herald status` against the configured database (and Redis), as an operator runs it."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from herald.cli.main import app
from herald.config import Settings
from herald.kit.channels import Channel
from herald.monitoring.reporter import Reporter
from herald.monitoring.throughput import Throughput
from herald.runtime import build_runtime
from tests.monitoring.seeding import seed


async def _seed(settings: Settings) -> None:
    runtime = build_runtime(settings)
    try:
        await seed(runtime, Channel.EMAIL)
        runtime.router.breaker(None, "smtp").record(False)
        sent = Throughput()
        sent.sent("email", 0.2)
        sent.sent("email", 0.2)
        await Reporter(runtime.engine, runtime.router, sent, settings.monitor).publish()
    finally:
        await runtime.close()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    asyncio.run(_seed(settings))
    monkeypatch.setenv("HERALD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HERALD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HERALD_SECRET_KEY", "test-secret-key")
    if settings.redis_url:
        monkeypatch.setenv("HERALD_REDIS_URL", settings.redis_url)
        monkeypatch.setenv("HERALD_REDIS__PREFIX", settings.redis.prefix)
    return settings


def _row(out: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{out}")


def test_status_prints_queues_providers_and_the_last_hour(env: Settings) -> None:
    result = CliRunner().invoke(app, ["status"], terminal_width=160)
    assert result.exit_code == 0, result.output
    out = result.output
    queues, last_hour = out[: out.index("Providers")], out[out.index("Last hour") :]
    assert ("redis" if env.redis_url else "embedded") in queues.splitlines()[0]
    assert _row(queues, "email")[1:6] == ["3", "2", "1", "2", "1"]
    assert _row(queues, "sms")[1:6] == ["0"] * 5
    assert _row(out, "smtp")[1:6] == ["(deployment)", "closed", "1", "1", "100%"]
    assert _row(last_hour, "email")[1:3] == ["2", "2"]
    assert _row(last_hour, "sms")[1:5] == ["0", "0", "-", "-"]


def test_status_as_json(env: Settings) -> None:
    result = CliRunner().invoke(app, ["status", "--json", "--minutes", "5"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["snapshot"]["backend"] == ("redis" if env.redis_url else "embedded")
    [email] = [q for q in status["snapshot"]["queues"] if q["channel"] == "email"]
    assert {k: email[k] for k in ("ready", "retrying", "scheduled", "in_flight", "dead")} == {
        "ready": 3,
        "retrying": 2,
        "scheduled": 1,
        "in_flight": 2,
        "dead": 1,
    }
    assert email["oldest_ready_age_seconds"] >= 120
    [smtp] = status["providers"]
    assert (smtp["provider"], smtp["state"], smtp["calls"], smtp["failures"], smtp["app_id"]) == (
        "smtp",
        "closed",
        1,
        1,
        None,
    )
    [history] = [h for h in status["history"] if h["channel"] == "email"]
    assert len(history["points"]) == 5 and sum(p["sent"] for p in history["points"]) == 2
