"""Test databases and Redis namespaces for the production backend (PostgreSQL + Redis).

Each test gets its own PostgreSQL database, cloned from a template that the migrations
built once per test process, and its own Redis key prefix. Under CI a missing server is a
failure; elsewhere the tests skip and say why.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
import redis
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.db import make_engine
from herald.migrations import upgrade

PG_ADMIN = os.environ.get("HERALD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HERALD_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI") == "true"


def _sqlalchemy_url(dbname: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


def require_services() -> None:
    """Skip (or, under CI, fail) when PostgreSQL or Redis is not reachable."""
    problems = []
    try:
        asyncio.run(_ping_pg())
    except Exception as exc:
        problems.append(f"PostgreSQL at {PG_ADMIN}: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        problems.append(f"Redis at {REDIS_URL}: {exc}")
    if problems:
        message = "production backend unavailable: " + "; ".join(problems)
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
        pytest.skip(message)


async def _ping_pg() -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    await conn.close()


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def make_template(worker: str) -> str:
    """Build (again) this test process's template database with the migrations."""
    # The pid keeps concurrent test runs on one server (a developer's and CI's) apart.
    name = f"herald_tpl_{worker}_{os.getpid()}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    upgrade(_sqlalchemy_url(name))
    return name


def clone(template: str) -> tuple[str, str]:
    name = f"herald_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name, _sqlalchemy_url(name)


def drop(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_prefix() -> str:
    return f"herald-test:{uuid.uuid4().hex[:12]}"


def clear_redis(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@asynccontextmanager
async def engine_with_tables(url: str, metadata: MetaData) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database with `metadata`'s own tables, dropped afterwards."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await engine.dispose()
