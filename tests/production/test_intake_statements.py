"""On PostgreSQL a batch is accepted with one statement and no transaction around it, its
`accepted` staged for the analytics rollups by that same statement (`fold_ctes`), when no
webhook endpoint wants it; when one does, with one statement into the log, one staging the
counts and the messages owed, in one transaction: they commit together, or not at all."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from herald.runtime import Runtime
from tests.harness import Herald, statements_run

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def accepted(runtime: Runtime) -> tuple[int, int]:
    """The rollups' `accepted`, once folded, and the deliveries in the log."""
    await runtime.folder().once()
    async with runtime.sessions() as session:
        counted = (await session.execute(text("SELECT sum(accepted) FROM analytics_monthly"))).scalar_one()
        return int(counted or 0), (await session.execute(text("SELECT count(*) FROM deliveries"))).scalar_one()


@pytest.mark.parametrize("hooked", [False, True], ids=["folded", "hooked"])
async def test_a_batch_is_one_statement_and_with_an_endpoint_one_transaction(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, hooked: bool
) -> None:
    await herald.user()
    await herald.template()
    if hooked:
        hook = {"url": "https://hooks.example.com/h", "events": ["accepted"]}
        r = await herald.client.post("/v1/webhooks", json=hook)
        assert r.status_code == 201, r.text
    await herald.notify()  # warm: the app's credentials and the user's card are cached now
    before = await accepted(runtime)
    transactions: list[str] = []
    original = asyncpg.Connection.execute

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        transactions.append(query.strip().rstrip(";").upper())
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    items = [
        {"event_id": f"s{i}", "user_id": "42", "template": "order-shipped", "data": {"order_id": i}} for i in range(3)
    ]
    with statements_run(runtime) as run:
        r = await herald.client.post("/v1/notifications/batch", json={"notifications": items})
    statements = [s[:40] for s in run]
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    # Each delivery the batch created (the template's channels), counted by the statement that wrote it.
    sent = list(transactions)  # the request's (not the reads' and the fold's below)
    after = await accepted(runtime)
    assert after[1] - before[1] == 9 and after[0] - before[0] == 9, (before, after)  # 3 channels each
    # The outbox's sweep deletes published rows in the background, on its own schedule: not
    # the request's statement, though it may land inside this window.
    writes = [s for s in statements if not s.startswith(("SELECT", "DELETE FROM outbox"))]
    if not hooked:
        assert "COMMIT" not in sent, sent
        assert len(writes) == 1, statements
        assert writes[0].startswith("WITH n AS ( INSERT INTO notifications"), statements
        return
    # (The webhook dispatcher, woken by the endpoint, may read in a transaction of its own.)
    assert sent.count("COMMIT") == 1, sent
    assert len(writes) == 3, statements
    assert writes[0].startswith("WITH n AS ( INSERT INTO notifications"), statements
    assert writes[1].startswith("INSERT INTO webhook_messages"), statements
    assert writes[2].startswith("INSERT INTO analytics_pending"), statements
