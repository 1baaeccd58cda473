"""Failed authentication is throttled per key and per address, cheaply; the right secret never is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from herald.api.app import create_app
from herald.apps.service import AppCredentials
from herald.apps.service import create_app as create_client_app
from herald.kit.db import transaction
from herald.runtime import Runtime

Api = tuple[httpx.AsyncClient, AppCredentials, list[str]]


@asynccontextmanager
async def throttled_api(runtime: Runtime, cache: timedelta) -> AsyncIterator[Api]:
    """An API with small allowances, an app, and the statements that read the apps table."""
    runtime.settings.api.auth_failures_per_key = 5
    runtime.settings.api.auth_failures_per_address = 8
    runtime.settings.api.auth_cache = cache
    async with transaction(runtime.sessions) as session:
        creds = await create_client_app(session, "throttled", runtime.pepper)
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM apps" in statement:
            reads.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", seen)
    transport = httpx.ASGITransport(app=create_app(runtime.api_services()))
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as client:
        yield client, creds, reads
    event.remove(runtime.engine.sync_engine, "before_cursor_execute", seen)


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[Api]:
    async with throttled_api(runtime, timedelta(hours=1)) as parts:
        yield parts


@pytest.fixture
async def uncached_api(runtime: Runtime) -> AsyncIterator[Api]:
    """Every request reads its key again, as each does once the cache has expired."""
    async with throttled_api(runtime, timedelta(0)) as parts:
        yield parts


async def test_a_flood_of_wrong_secrets_is_refused_without_a_read_each(api: Api) -> None:
    client, creds, reads = api
    statuses = [(await client.get("/v1/templates", auth=(creds.key, f"guess-{n}"))).status_code for n in range(40)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    refused = await client.get("/v1/templates", auth=(creds.key, "guess-again"))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    # The app's own secret still works, at once, in the middle of the flood.
    assert (await client.get("/v1/templates", auth=(creds.key, creds.secret))).status_code == 200
    assert len(reads) == 1  # the key's secrets, read once and kept


async def test_an_address_guessing_keys_stops_costing_reads_but_known_apps_pass(uncached_api: Api) -> None:
    client, creds, reads = uncached_api
    assert (await client.get("/v1/templates", auth=(creds.key, creds.secret))).status_code == 200
    statuses = [(await client.get("/v1/templates", auth=(f"hk_{n:020x}", "x"))).status_code for n in range(30)]
    assert statuses[:8] == [401] * 8 and set(statuses[8:]) == {429}
    assert len(reads) == 1 + 8  # the app's key, then one per made-up key until the address was throttled
    # The app's key authenticated here before: read again and let through, address or not.
    assert (await client.get("/v1/templates", auth=(creds.key, creds.secret))).status_code == 200
    assert len(reads) == 1 + 8 + 1


async def test_oversized_credentials_never_reach_the_database(api: Api) -> None:
    client, creds, reads = api
    assert (await client.get("/v1/templates", auth=("hk_" + "a" * 5000, "x"))).status_code == 401
    assert (await client.get("/v1/templates", auth=(creds.key, "s" * 5000))).status_code == 401
    assert (await client.get("/v1/templates", auth=("hk_\x00", "x"))).status_code == 401
    assert reads == []
