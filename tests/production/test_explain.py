"""The hot queries are served by indexes on PostgreSQL (EXPLAIN, with sequential scans off)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import or_, select, text, update
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from herald.delivery import recorder
from herald.delivery import work as work_repo
from herald.kit.clock import utcnow
from herald.notifications import repository as notifications_repo
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification
from herald.queue.models import OutboxEntry
from herald.runtime import Runtime
from herald.templates import repository as templates_repo
from tests.harness import Herald

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

NOW = utcnow()
IDS = [uuid.uuid4() for _ in range(3)]
APP = uuid.uuid4()

HOT: dict[str, Executable] = {
    "dedup lookup": select(Notification).where(Notification.app_id == APP, Notification.event_id.in_(["a", "b"])),
    "lease claimed ids": update(Delivery)
    .where(Delivery.id.in_(IDS), Delivery.state == DeliveryState.QUEUED)
    .values(state=DeliveryState.SENDING),
    "embedded claim": select(Delivery.id)
    .where(Delivery.state == DeliveryState.QUEUED, Delivery.channel == "sms", Delivery.available_at <= NOW)
    .order_by(Delivery.available_at)
    .limit(200),
    "expired leases": select(Delivery.id).where(Delivery.state == DeliveryState.SENDING, Delivery.lease_until < NOW),
    "scheduler release": select(Delivery.id).where(
        Delivery.state == DeliveryState.SCHEDULED, Delivery.available_at <= NOW
    ),
    "reconciler sweep": select(Delivery.id).where(
        or_(
            (Delivery.state == DeliveryState.QUEUED) & (Delivery.available_at < NOW - timedelta(minutes=1)),
            (Delivery.state == DeliveryState.SENDING) & (Delivery.lease_until < NOW),
        )
    ),
    "deliveries of notifications": select(Delivery).where(Delivery.notification_id.in_(IDS)),
    "attempts of deliveries": select(Attempt).where(Attempt.delivery_id.in_(IDS)),
    "notification page": select(Notification)
    .where(Notification.app_id == APP, Notification.user_id == "42")
    .order_by(Notification.id.desc())
    .limit(50),
    "outbox batch": select(OutboxEntry.id).order_by(OutboxEntry.id).limit(1000),
}


@pytest.mark.parametrize("name", sorted(HOT))
async def test_hot_query_uses_an_index(runtime: Runtime, name: str) -> None:
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        stmt = HOT[name]
        assert isinstance(stmt, ClauseElement)
        compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in (await conn.execute(text(f"EXPLAIN {compiled}"))).all())
    assert "Seq Scan" not in plan, plan
    if name == "dedup lookup":  # not another index that merely starts with app_id
        assert "uq_notifications_app_id_event_id" in plan, plan


async def test_the_send_path_finds_its_rows_by_primary_key_past_dead_index_entries(
    herald: Herald, runtime: Runtime
) -> None:
    """The lease and the outcome write pick rows by id; every delivery passes through the
    partial state indexes, so between vacuums those are mostly dead entries, and a plan
    that walks them (a bitmap scan, which never marks them dead) grew with the backlog."""
    await herald.user()
    await herald.template()
    items = [
        {"event_id": f"x{i}", "user_id": "42", "template": "order-shipped", "data": {"order_id": i}} for i in range(300)
    ]
    assert (await herald.client.post("/v1/notifications/batch", json={"notifications": items})).status_code == 200
    async with runtime.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE deliveries SET (autovacuum_enabled = false)"))
        # Statistics taken at a quiet moment (nothing in flight), then traffic: in and out of
        # both partial indexes, which leaves dead entries behind.
        await conn.execute(text("UPDATE deliveries SET state = 'delivered'"))
        await conn.execute(text("ANALYZE deliveries"))
        for _ in range(10):
            await conn.execute(text("UPDATE deliveries SET state = 'sending', lease_until = now()"))
            await conn.execute(text("UPDATE deliveries SET state = 'queued', available_at = now()"))
        ids = list((await conn.execute(text("SELECT id FROM deliveries ORDER BY id LIMIT 24"))).scalars())
    now = utcnow()
    statements = {
        "lease and load": (
            work_repo._statements("postgresql").lease_load_ids,
            {"ids": ids, "owner": "w", "now": now, "until": now + timedelta(seconds=60)},
        ),
        "lease": (
            work_repo._statements("postgresql").lease_ids,
            {"ids": ids, "owner": "w", "now": now, "until": now + timedelta(seconds=60)},
        ),
        "outcomes": (recorder._RECORD_PG, _record_params(ids)),
    }
    async with runtime.engine.connect() as conn:
        for name, (stmt, params) in statements.items():
            assert isinstance(stmt, ClauseElement)
            compiled = stmt.compile(conn.sync_connection)
            assert isinstance(compiled, SQLCompiler)
            values = compiled.construct_params(params)
            positional = tuple(values[k] for k in compiled.positiontup or ())
            plan = "\n".join(r[0] for r in (await conn.exec_driver_sql(f"EXPLAIN {compiled}", positional)).all())
            assert "pk_deliveries" in plan and "ix_deliveries_" not in plan, f"{name}:\n{plan}"


async def test_the_embedded_lease_and_load_takes_due_rows_by_index(runtime: Runtime) -> None:
    """PostgreSQL without Redis: the log is the queue, and one statement picks a channel's due
    rows, leases and loads them."""
    now = utcnow()
    stmt = work_repo._statements("postgresql").lease_load_due
    params = {"for_channel": "email", "limit": 200, "owner": "w", "now": now, "until": now + timedelta(seconds=60)}
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        assert isinstance(stmt, ClauseElement)
        compiled = stmt.compile(conn.sync_connection)
        assert isinstance(compiled, SQLCompiler)
        values = compiled.construct_params(params)
        positional = tuple(values[k] for k in compiled.positiontup or ())
        plan = "\n".join(r[0] for r in (await conn.exec_driver_sql(f"EXPLAIN {compiled}", positional)).all())
    assert "Seq Scan" not in plan and "ix_deliveries_" in plan, plan


def _record_params(ids: list[uuid.UUID]) -> dict[str, object]:
    now = utcnow()
    n = len(ids)
    return {
        **{f"a_{c}": [] for c in recorder._ATTEMPT_COLUMNS},
        "b_id": ids,
        "b_owner": ["w"] * n,
        "b_state": ["delivered"] * n,
        "b_unknowns": [0] * n,
        "b_reason": [None] * n,
        "b_attempts": [1] * n,
        "b_available_at": [now] * n,
        "b_provider": ["smtp"] * n,
        "b_pmid": [None] * n,
        "b_finished_at": [now] * n,
        "b_now": [now] * n,
    }


# Each index's first column.
_LEADING = """
    SELECT c.relname, a.attname FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = current_schema()
"""


def _keyed_statements() -> dict[str, Executable]:
    """Every statement the hot path runs on the keyed engine (`kit.db.keyed_engine`)."""
    q = work_repo._statements("postgresql")
    return {
        "intake": notifications_repo._INSERT_PG,
        "intake, outbox": notifications_repo._INSERT_PG_OUTBOX,
        "intake, rollups": notifications_repo._INSERT_PG_FOLDED,
        "intake, outbox and rollups": notifications_repo._INSERT_PG_OUTBOX_FOLDED,
        "live templates": templates_repo._live_query("postgresql"),
        # A batch's repeats, read back (`repository.by_event_ids`, `deliveries_of`).
        "repeats": select(Notification).where(Notification.app_id == APP, Notification.event_id.in_(["a", "b"])),
        "repeats' deliveries": select(Delivery).where(Delivery.notification_id.in_(IDS)).order_by(Delivery.id),
        "lease ids": q.lease_ids,
        "lease and load ids": q.lease_load_ids,
        "held": q.held,
        "load": q.load,
        "suppressed": q.suppressed,
        "outcomes": recorder._RECORD_PG,
        "outcomes, named": recorder._RECORD_PG_RETURNING,
        "outcomes and rollups": recorder._RECORD_PG_FOLDED,
    }


@pytest.mark.parametrize("name", sorted(_keyed_statements()))
async def test_a_keyed_statement_planned_once_on_empty_tables_walks_indexes(runtime: Runtime, name: str) -> None:
    """The keyed engine plans each statement once per connection (a generic plan) and keeps
    the plan until the tables' statistics change: a plan made while the log is empty, as in a
    new deployment's first minutes, must still find rows by their indexes when it holds millions."""
    assert runtime.keyed_engine is not None
    stmt = _keyed_statements()[name]
    assert isinstance(stmt, ClauseElement)
    async with runtime.keyed_engine.connect() as conn:
        compiled = stmt.compile(conn.sync_connection, compile_kwargs={"render_postcompile": True})
        assert isinstance(compiled, SQLCompiler)
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        assert await raw.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        assert await raw.fetchval("SELECT count(*) FROM deliveries") == 0
        leading = dict(await raw.fetch(_LEADING))
        await raw.execute(f"PREPARE keyed AS {compiled.string}")
        nulls = ", ".join(["NULL"] * len(compiled.positiontup or ()))
        try:
            plan = "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN EXECUTE keyed({nulls})"))
        finally:
            await raw.execute("DEALLOCATE keyed")
    assert "Seq Scan" not in plan, plan
    # A generic plan shows its parameters, a custom one their values.
    assert "$1" in plan or "Function Scan" in plan, plan
    # Every index is entered by its leading column: a condition on a later column alone is a
    # walk over the whole index, cheap on an empty table, ruinous once it fills.
    for index, condition in _index_conditions(plan):
        assert re.search(rf"\b{leading[index]}\b", condition), f"{index} entered by {condition}:\n{plan}"


def _index_conditions(plan: str) -> list[tuple[str, str]]:
    """(index, its condition) of every index scan in an EXPLAIN's text."""
    lines = plan.splitlines()
    out = []
    for i, line in enumerate(lines):
        if m := re.search(r"Index (?:Only )?Scan (?:using|on) (\w+)", line):
            condition = next((c for c in lines[i + 1 : i + 4] if "Index Cond:" in c), "")
            out.append((m.group(1), condition))
    return out
