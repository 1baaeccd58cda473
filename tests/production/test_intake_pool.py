"""A flood of requests waits for the intake's slots instead of opening database connections."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from herald.runtime import Runtime
from tests.harness import Herald

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def test_a_flood_of_single_requests_reuses_the_pools_connections(herald: Herald, runtime: Runtime) -> None:
    await herald.user()
    await herald.template()
    assert (await herald.notify(event_id="warm")).status_code == 202
    opened: list[Any] = []
    pool = runtime.engine.sync_engine.pool

    def listener(conn: Any, _record: Any) -> None:
        opened.append(conn)

    event.listen(pool, "connect", listener)
    try:
        answers = await asyncio.gather(*(herald.notify(event_id=f"flood-{i}") for i in range(80)))
    finally:
        event.remove(pool, "connect", listener)
    assert [a.status_code for a in answers] == [202] * 80
    # Past the pool's own connections (opened on first use), none: no overflow connection
    # was opened only to be closed again on return.
    assert len(opened) <= runtime.settings.database_pool_size
