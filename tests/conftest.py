"""Shared fixtures: a migrated database per test, the SMTP sandbox, a runtime, API clients.

`backend` selects the storage engines; every test that uses the runtime runs on each.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from herald.api.deps import forget_credentials
from herald.config import RedisSettings, RetrySettings, Settings, WorkerSettings
from herald.migrations import upgrade
from herald.providers.smtp import SmtpAdapter
from herald.runtime import Runtime, build_runtime
from herald.sandbox.inbox import Inbox
from herald.sandbox.smtp import SmtpSimulator
from tests import backends
from tests.harness import Herald, client_for
from tests.network import Listener

IN_CI = os.environ.get("CI") == "true"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database built by the migrations; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "herald.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str]:
    backends.require_services()
    name = backends.make_template(worker_id)
    yield name
    backends.drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_url(backend: str) -> Iterator[str | None]:
    """None on the embedded backend; a private key prefix on Redis otherwise."""
    if backend != "postgres":
        yield None
        return
    prefix = backends.redis_prefix()
    yield prefix
    backends.clear_redis(prefix)


def settings_for(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "secret_key": SecretStr("test-secret-key"),
        "worker": WorkerSettings(poll_interval=timedelta(milliseconds=20), lease=timedelta(seconds=30)),
        "retry": RetrySettings(base=timedelta(milliseconds=50), factor=2.0, max_attempts=5),
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "postgres":
        name, url = backends.clone(request.getfixturevalue("pg_template"))
        yield url
        backends.drop(name)
        return
    db = tmp_path / "herald.db"
    shutil.copy(request.getfixturevalue("migrated_sqlite"), db)
    yield f"sqlite+aiosqlite:///{db}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str | None) -> Settings:
    if redis_url is None:
        return settings_for(tmp_path, database_url)
    return settings_for(
        tmp_path,
        database_url,
        redis_url=backends.REDIS_URL,
        database_pool_size=5,
        redis=RedisSettings(prefix=redis_url, block=timedelta(milliseconds=20)),
    )


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def smtp_sim(inbox: Inbox) -> AsyncIterator[SmtpSimulator]:
    sim = SmtpSimulator(inbox)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def runtime(settings: Settings, smtp_sim: SmtpSimulator) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, adapters=[SmtpAdapter(smtp_sim.adapter_config())], single_process=True)
    yield rt
    await rt.close()
    forget_credentials()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    c = await client_for(runtime, "app-one")
    yield c
    await c.aclose()


@pytest.fixture
async def other_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    c = await client_for(runtime, "app-two")
    yield c
    await c.aclose()


@pytest.fixture
def herald(runtime: Runtime, client: httpx.AsyncClient, inbox: Inbox) -> Herald:
    return Herald(runtime, client, inbox)


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    """A TCP listener that counts the connections made to it (and answers none)."""
    server = await Listener().start()
    yield server
    await server.stop()
