"""Where the log is the queue, a lease takes a channel's due deliveries oldest first, lapsed
leases among them, up to its limit; on SQLite it walks the claim index in order instead of
sorting every due row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.sql.compiler import SQLCompiler

from herald.delivery import work
from herald.delivery.work import Due
from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState
from herald.queue.lease import lease_due
from herald.runtime import Runtime
from tests.harness import Herald


async def test_the_oldest_due_go_first_lapsed_leases_among_them(herald: Herald, runtime: Runtime) -> None:
    ids = await herald.queued(6)
    now = utcnow()
    # Due at -6..-1 minutes in reverse order of creation; the fourth is leased, its lease lapsed;
    # the fifth is leased and live; the last is not due yet.
    ages = {ids[0]: 1, ids[1]: 2, ids[2]: 3, ids[3]: 6, ids[4]: 5, ids[5]: -5}
    async with runtime.engine.begin() as conn:
        for i, minutes in ages.items():
            await conn.execute(
                update(Delivery).where(Delivery.id == i).values(available_at=now - timedelta(minutes=minutes))
            )
        for i, until in ((ids[3], now - timedelta(seconds=1)), (ids[4], now + timedelta(minutes=1))):
            await conn.execute(
                update(Delivery).where(Delivery.id == i).values(state=DeliveryState.SENDING, lease_until=until)
            )
    async with runtime.engine.begin() as conn:
        first = await work.lease(conn, Due("email", 2), "w1", now, now + timedelta(minutes=1))
        rest = await work.lease(conn, Due("email", 10), "w2", now, now + timedelta(minutes=1))
    assert sorted(first) == sorted([ids[3], ids[2]])  # oldest due first: the lapsed lease (-6) and -3
    assert sorted(rest) == sorted([ids[1], ids[0]])  # not the live lease, not the one due later


async def test_sqlite_walks_the_claim_index_in_order(runtime: Runtime) -> None:
    """The queued rows come from the claim index in `available_at` order, not from an OR of two
    indexes sorted whole (which cost a sort of every due row per lease)."""
    async with runtime.engine.connect() as conn:
        compiled = lease_due(conn.dialect.name).compile(dialect=conn.dialect)
        assert isinstance(compiled, SQLCompiler)
        if conn.dialect.name != "sqlite":
            return  # PostgreSQL's plans: tests/production/test_explain.py
        # A plan does not depend on the values (no statistics here): every parameter NULL.
        nulls = tuple(None for _ in compiled.positiontup or [])
        plan: list[tuple[Any, ...]] = [
            tuple(r) for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", nulls)
        ]
    by_id = {row[0]: row for row in plan}
    [claim] = [row for row in plan if "ix_deliveries_claim" in row[3]]
    parent, lineage = claim[1], []
    while parent in by_id:
        lineage.append(by_id[parent][3])
        parent = by_id[parent][1]
    assert not any("MULTI-INDEX OR" in step for step in lineage), plan
    assert not any("TEMP B-TREE" in row[3] and row[1] == claim[1] for row in plan), plan
