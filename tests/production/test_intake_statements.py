"""On PostgreSQL a batch is accepted with one statement into the log and one into the
analytics rollups, in one transaction: the rollups commit with what they count, or not at all.
(Before the rollups it was one statement with no transaction around it.)"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from herald.runtime import Runtime
from tests.harness import Herald

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def test_a_batch_is_one_statement_into_the_log_and_one_into_the_rollups(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await herald.user()
    await herald.template()
    await herald.notify()  # warm: the app's credentials and the user's card are cached now
    transactions: list[str] = []
    original = asyncpg.Connection.execute

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        transactions.append(query.strip().rstrip(";").upper())
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:40])

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        items = [
            {"event_id": f"s{i}", "user_id": "42", "template": "order-shipped", "data": {"order_id": i}}
            for i in range(3)
        ]
        r = await herald.client.post("/v1/notifications/batch", json={"notifications": items})
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    assert transactions == ["BEGIN ISOLATION LEVEL READ COMMITTED", "COMMIT"], transactions
    # The outbox's sweep deletes published rows in the background, on its own schedule: not
    # the request's statement, though it may land inside this window.
    writes = [s for s in statements if not s.startswith(("SELECT", "DELETE FROM outbox"))]
    assert len(writes) == 2, statements
    assert writes[0].startswith("WITH n AS ( INSERT INTO notifications"), statements
    assert writes[1].startswith("WITH hourly AS (INSERT INTO analytics_ho"), statements
