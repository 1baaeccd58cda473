"""`herald apps` as an operator runs it: the real CLI in a subprocess, against each backend,
with the API and the workers in this process over the same database (and Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from herald.api.app import create_app
from herald.api.deps import forget_credentials
from herald.apps.holds import Holds
from herald.apps.models import App
from herald.config import Settings
from herald.delivery.steps.hold import HeldApps
from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState, Notification
from herald.recipients.models import User
from herald.runtime import Runtime
from herald.templates.models import Template
from tests.harness import Herald

HERALD_APPS = [sys.executable, "-m", "herald.cli.main", "apps"]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Cli:
    env: dict[str, str]

    async def __call__(self, *args: str, stdin: str = "") -> Ran:
        proc = await asyncio.create_subprocess_exec(
            *HERALD_APPS,
            *args,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode())
        assert proc.returncode is not None
        return Ran(proc.returncode, out.decode(), err.decode())

    async def json(self, *args: str) -> Any:
        ran = await self(*args, "--json")
        assert ran.code == 0, ran.err
        return json.loads(ran.out)


def env_for(settings: Settings, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HERALD_DATABASE_URL": settings.effective_database_url(),
        "HERALD_REDIS_URL": settings.redis_url or "",
        "HERALD_REDIS__PREFIX": settings.redis.prefix,
        "HERALD_SECRET_KEY": settings.effective_secret_key().get_secret_value(),
        "HERALD_DATA_DIR": str(data_dir),
        "HERALD_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    return Cli(env_for(settings, tmp_path))


def api(runtime: Runtime, key: str, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())),
        base_url="http://herald.test",
        auth=(key, secret),
    )


async def status(runtime: Runtime, key: str, secret: str) -> int:
    """What an authenticated read answers to these credentials, verified afresh (the API
    caches a verification for a while; forgetting models that cache's expiry)."""
    forget_credentials()
    async with api(runtime, key, secret) as c:
        return (await c.get("/v1/templates")).status_code


def fresh_holds(runtime: Runtime) -> None:
    """The set of disabled apps a worker has once its refresh period has passed."""
    step = next(s for s in runtime.pipeline.steps if isinstance(s, HeldApps))
    step.holds = Holds(runtime.read_engine)


async def deliveries_of(runtime: Runtime, app_id: uuid.UUID) -> list[Delivery]:
    async with runtime.sessions() as s:
        return list((await s.scalars(select(Delivery).where(Delivery.app_id == app_id))).all())


async def count(runtime: Runtime, model: Any, app_id: uuid.UUID) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(model.app_id == app_id)) or 0)


async def test_an_app_through_its_whole_life(cli: Cli, herald: Herald) -> None:
    """create, authenticate, rotate with an overlap, disable (held), enable (sent), delete."""
    runtime = herald.runtime
    created = await cli.json("create", "shop")
    key, first, app_id = created["key"], created["secret"], uuid.UUID(created["id"])
    assert await status(runtime, key, first) == 200

    rotated = await cli.json("rotate-secret", key, "--overlap", "1h")
    second = rotated["secret"]
    assert second != first and rotated["key"] == key
    assert await status(runtime, key, first) == 200 and await status(runtime, key, second) == 200
    async with runtime.sessions() as s, s.begin():  # the overlap runs out
        await s.execute(update(App).where(App.id == app_id).values(previous_secret_expires_at=utcnow()))
    assert await status(runtime, key, first) == 401
    assert await status(runtime, key, second) == 200

    async with api(runtime, key, second) as client:
        shop = Herald(runtime, client, herald.inbox)
        await shop.user()
        await shop.template()
        assert (await shop.notify(event_id="held")).status_code == 202
    disabled = await cli.json("disable", key)
    assert disabled["app"]["active"] is False
    fresh_holds(runtime)
    assert await status(runtime, key, second) == 401
    # Another app's work goes on meanwhile.
    await herald.user()
    await herald.template()
    await herald.notify(event_id="other")
    await herald.drain()
    assert [e.destination for e in herald.inbox.entries()] == ["ada@example.com"]
    [held] = await deliveries_of(runtime, app_id)
    assert (held.state, held.reason, held.attempts) == (DeliveryState.QUEUED, "app_disabled", 0)
    assert held.available_at > utcnow() + timedelta(minutes=1)

    enabled = await cli.json("enable", key)
    assert enabled["app"]["active"] is True and enabled["released"] == 1
    fresh_holds(runtime)
    assert await status(runtime, key, second) == 200
    await herald.drain()
    [sent] = await deliveries_of(runtime, app_id)
    assert (sent.state, sent.attempts) == (DeliveryState.DELIVERED, 1)
    assert len(herald.inbox.entries()) == 2

    deleted = await cli.json("delete", key, "--yes")
    removed = deleted["removed"]
    assert (removed["users"], removed["templates"], removed["notifications"], removed["deliveries"]) == (1, 1, 1, 1)
    assert await status(runtime, key, second) == 401
    async with runtime.sessions() as s:
        assert await s.get(App, app_id) is None
    for model in (User, Template, Notification, Delivery):
        assert await count(runtime, model, app_id) == 0
    assert (await herald.client.get("/v1/users/42")).status_code == 200  # the other app keeps its data


async def test_rotating_without_overlap_retires_the_old_secret_at_once(cli: Cli, runtime: Runtime) -> None:
    created = await cli.json("create", "shop")
    ran = await cli("rotate-secret", created["key"], "--overlap", "0")
    assert ran.code == 0 and "the old secret no longer works" in ran.out
    [new] = [line.split()[1] for line in ran.out.splitlines() if line.startswith("secret")]
    assert await status(runtime, created["key"], created["secret"]) == 401
    assert await status(runtime, created["key"], new) == 200


async def test_rotation_says_when_the_old_secret_stops(cli: Cli, runtime: Runtime) -> None:
    created = await cli.json("create", "shop")
    before = utcnow()
    rotated = await cli.json("rotate-secret", created["key"], "--overlap", "2h")
    until = datetime.fromisoformat(rotated["old_secret_valid_until"])
    assert before + timedelta(hours=2) <= until <= utcnow() + timedelta(hours=2)
    shown = await cli.json("show", created["key"])
    assert datetime.fromisoformat(shown["old_secret_valid_until"]) == until
    ran = await cli("rotate-secret", created["key"], "--overlap", "30m")
    assert ran.code == 0 and "the old secret keeps working until" in ran.out


async def test_list_and_show_never_print_a_secret_its_hash_or_the_end_user_key(cli: Cli, runtime: Runtime) -> None:
    created = await cli.json("create", "shop")
    rotated = await cli.json("rotate-secret", created["key"])
    async with api(runtime, created["key"], rotated["secret"]) as client:
        end_user_key = (await client.get("/v1/end-user-key")).json()["key"]
    async with runtime.sessions() as s:
        app = await s.scalar(select(App).where(App.key_id == created["key"]))
    assert app is not None and app.previous_secret_hash and app.end_user_key
    shown = [
        await cli("list"),
        await cli("list", "--json"),
        await cli("show", created["key"]),
        await cli("show", created["id"], "--json"),
    ]
    for ran in shown:
        assert ran.code == 0, ran.err
        assert created["key"] in ran.out and "shop" in ran.out
        secrets = (created["secret"], rotated["secret"], app.secret_hash, app.previous_secret_hash)
        for secret in (*secrets, end_user_key, app.end_user_key):
            assert secret not in ran.out + ran.err
    assert [a["key"] for a in json.loads(shown[1].out)] == [created["key"]]


@pytest.mark.parametrize(
    "args",
    [("show",), ("disable",), ("enable",), ("rotate-secret",), ("delete", "--yes")],
    ids=lambda a: a[0],
)
async def test_an_unknown_key_is_one_line_and_a_failure(cli: Cli, args: tuple[str, ...]) -> None:
    ran = await cli(args[0], "hk_nosuchapp", *args[1:])
    assert ran.code == 1
    assert ran.err.strip() == "error: no app has the key or id 'hk_nosuchapp'"
    assert "Traceback" not in ran.out + ran.err


async def test_bad_input_is_one_line_and_a_failure(cli: Cli) -> None:
    created = await cli.json("create", "shop")
    for args, message in [
        (("rotate-secret", created["key"], "--overlap", "soon"), "cannot read the overlap 'soon'"),
        (("rotate-secret", created["key"], "--overlap", "31d"), "the overlap is between 0 and 30 days"),
        (("create", "   "), "an app name is 1 to 200 characters"),
        (("create", "x" * 201), "an app name is 1 to 200 characters"),
    ]:
        ran = await cli(*args)
        assert ran.code == 1 and ran.err.startswith("error: ") and message in ran.err, ran
        assert len(ran.err.strip().splitlines()) == 1


async def test_delete_says_what_it_removes_and_keeps_the_app_when_declined(cli: Cli, runtime: Runtime) -> None:
    created = await cli.json("create", "shop")
    async with api(runtime, created["key"], created["secret"]) as client:
        assert (await client.put("/v1/users/7", json={"email": "a@example.com"})).status_code in (200, 201)
    ran = await cli("delete", created["key"], stdin="n\n")
    assert ran.code == 1
    assert "removes it and all it owns: 1 users" in ran.out and "0 notifications" in ran.out
    app_id = uuid.UUID(created["id"])
    assert await count(runtime, User, app_id) == 1
    assert await status(runtime, created["key"], created["secret"]) == 200  # not even disabled


async def test_delete_waits_for_sends_at_a_provider(cli: Cli, herald: Herald) -> None:
    """A delivery leased to a live worker may be at a provider: its outcome must find its row,
    so the delete waits for the lease to end (longer than the delete's own wait for holds)."""
    await herald.user()
    await herald.template()
    await herald.notify()
    [listed] = await cli.json("list")
    app_id = uuid.UUID(listed["id"])
    lease_until = utcnow() + timedelta(seconds=8)
    async with herald.runtime.sessions() as s, s.begin():
        await s.execute(
            update(Delivery)
            .where(Delivery.app_id == app_id)
            .values(state=DeliveryState.SENDING, lease_owner="w", lease_until=lease_until)
        )
    ran = await cli("delete", listed["key"], "--yes")
    assert ran.code == 0, ran.err
    assert utcnow() >= lease_until
    assert await count(herald.runtime, Delivery, app_id) == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_create_works_on_a_fresh_data_directory(tmp_path: Path, backend: str) -> None:
    """The first thing an operator runs: no database yet, nothing configured but a directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    cli = Cli({**env, "HERALD_DATA_DIR": str(tmp_path / "fresh"), "HERALD_LOG_LEVEL": "WARNING"})
    created = await cli.json("create", "first")
    assert created["key"].startswith("hk_") and created["secret"]
    [listed] = await cli.json("list")
    assert listed["key"] == created["key"] and listed["development"] is False


async def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    url = "postgresql+asyncpg://herald:hunter2@127.0.0.1:1/herald"
    cli = Cli({**env, "HERALD_DATABASE_URL": url, "HERALD_SECRET_KEY": "k", "HERALD_DATA_DIR": str(tmp_path)})
    ran = await cli("list")
    assert ran.code == 1
    assert ran.err.strip() == "error: cannot reach or use the database at 127.0.0.1:1/herald (ConnectionRefusedError)"
