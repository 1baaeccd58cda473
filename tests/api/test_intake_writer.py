"""The intake renders a batch before it writes: SQLite's one writer stays free meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from herald.notifications import service
from herald.runtime import Runtime
from tests.harness import Herald

# PostgreSQL has a pool of writers: there a batch being rendered never kept another write out.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def test_other_writes_go_on_while_a_batch_is_rendered(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await herald.user()
    await herald.template()
    planning, release = asyncio.Event(), asyncio.Event()
    prepare = service.prepare_templates

    async def held(reqs: Any, templates: Any) -> None:
        planning.set()
        await release.wait()
        await prepare(reqs, templates)

    monkeypatch.setattr(service, "prepare_templates", held)
    sent = asyncio.create_task(herald.notify(event_id="held"))
    await asyncio.wait_for(planning.wait(), 10)

    async def write() -> None:
        async with runtime.engine.begin() as conn:  # BEGIN IMMEDIATE: SQLite's write lock
            await conn.execute(text("UPDATE apps SET name = name WHERE 1 = 0"))

    await asyncio.wait_for(write(), 5)  # with the batch's transaction open, this waited for it
    release.set()
    answer = await sent
    assert answer.status_code == 202, answer.text
    got = await herald.client.get(f"/v1/notifications/{answer.json()['id']}")
    assert got.status_code == 200 and got.json()["template"] is not None
