"""Writing outcomes to the log in batches.

Workers hand their results here and wait; the recorder writes everything that arrived in
the last few milliseconds in one transaction (attempt rows, delivery states, retirements)
and only then releases the waiters, who ack their queue entries. A crash before the commit
leaves the deliveries leased, and the lease expiry re-drives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, insert, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.analytics.consumer import fold_targets, stage_folded
from herald.analytics.repository import fold_ctes
from herald.delivery.results import Result
from herald.events.kinds import EventKind
from herald.events.repository import Target as EventTarget
from herald.events.service import EventLog, lifecycle
from herald.kit.bulk import Bulk
from herald.kit.clock import utcnow
from herald.kit.db import tuple_arrays
from herald.kit.ids import uuid7
from herald.notifications.models import Attempt, Delivery, DeliveryState
from herald.recipients.models import Device
from herald.recipients.repository import suppress

log = logging.getLogger(__name__)

Invalidate = Callable[[uuid.UUID, str], Awaitable[None]]

_D = cast(Table, Delivery.__table__)
_A = cast(Table, Attempt.__table__)  # a table, not the entity: see notifications.repository
# SQLite: each batch by executemany (`kit.bulk`).
_UPDATE_STATEMENT = (
    update(_D)
    .where(
        _D.c.id == bindparam("b_id"),
        _D.c.lease_owner == bindparam("b_owner"),
        _D.c.state == DeliveryState.SENDING.value,
    )
    .values(
        state=bindparam("b_state"),
        unknowns=_D.c.unknowns + bindparam("b_unknowns"),
        reason=bindparam("b_reason"),
        attempts=bindparam("b_attempts"),
        available_at=bindparam("b_available_at"),
        provider=bindparam("b_provider"),
        provider_message_id=bindparam("b_pmid"),
        finished_at=bindparam("b_finished_at"),
        updated_at=bindparam("b_now"),
        lease_owner=None,
        lease_until=None,
    )
)

# PostgreSQL: a whole batch in one statement, attempts and outcomes, with the arrays unnested
# into rows (an executemany is one server-side execution per row, and a transaction costs a
# BEGIN and a COMMIT round trip of its own; one statement is atomic by itself). The same
# guard as `_UPDATE_STATEMENT`: only a row still leased to the worker that sent it is written (its
# state test a CASE, to keep the plan on the primary key: see queue.lease.still_claimable).
_RECORD_PG_SQL = """
    WITH attempted AS (
        INSERT INTO attempts (id, delivery_id, app_id, number, provider, outcome, code, detail,
                              started_at, duration_ms)
        SELECT * FROM unnest(
            CAST(:a_id AS uuid[]), CAST(:a_delivery_id AS uuid[]), CAST(:a_app_id AS uuid[]),
            CAST(:a_number AS int[]), CAST(:a_provider AS text[]), CAST(:a_outcome AS text[]),
            CAST(:a_code AS text[]), CAST(:a_detail AS text[]), CAST(:a_started_at AS timestamptz[]),
            CAST(:a_duration_ms AS int[])
        )
    )
    UPDATE deliveries AS d SET
        state = v.state, unknowns = d.unknowns + v.unknowns, reason = v.reason,
        attempts = v.attempts, available_at = v.available_at, provider = v.provider,
        provider_message_id = v.pmid, finished_at = v.finished_at, updated_at = v.now,
        lease_owner = NULL, lease_until = NULL
    FROM unnest(
        CAST(:b_id AS uuid[]), CAST(:b_owner AS text[]), CAST(:b_state AS text[]),
        CAST(:b_unknowns AS int[]), CAST(:b_reason AS text[]), CAST(:b_attempts AS int[]),
        CAST(:b_available_at AS timestamptz[]), CAST(:b_provider AS text[]), CAST(:b_pmid AS text[]),
        CAST(:b_finished_at AS timestamptz[]), CAST(:b_now AS timestamptz[])
    ) AS v(id, owner, state, unknowns, reason, attempts, available_at, provider, pmid, finished_at, now)
    WHERE d.id = v.id AND d.lease_owner = v.owner AND CASE WHEN d.state = 'sending' THEN true ELSE false END
    """
_RECORD_PG = text(_RECORD_PG_SQL)
# The same, naming the deliveries it wrote: only those are announced to the event consumers
# (a stale result, whose lease another worker took over, changed nothing and says nothing).
_RECORD_PG_RETURNING = text(_RECORD_PG_SQL + " RETURNING d.id")

# The same with the rollups' counts of the milestones the batch settled (`fold_ctes`): only the
# deliveries the update wrote count, and the whole batch stays one statement.
_RECORD_PG_FOLDED = text(
    _RECORD_PG_SQL.replace("    UPDATE deliveries AS d SET", "    , written AS (UPDATE deliveries AS d SET", 1)
    + " RETURNING d.id), "
    + fold_ctes("written")
    + " SELECT 1"
)

# Which of Herald's milestones a settled delivery reached, for the event consumers.
_MILESTONES = {
    DeliveryState.DELIVERED.value: EventKind.SENT,
    DeliveryState.FAILED.value: EventKind.FAILED,
    DeliveryState.DEAD.value: EventKind.DEAD,
}
_ATTEMPT_COLUMNS: tuple[str, ...] = (
    *("id", "delivery_id", "app_id", "number", "provider", "outcome", "code", "detail"),
    *("started_at", "duration_ms"),
)
_OUTCOME_COLUMNS: tuple[str, ...] = (
    *("b_id", "b_owner", "b_state", "b_unknowns", "b_reason", "b_attempts", "b_available_at"),
    *("b_provider", "b_pmid", "b_finished_at", "b_now"),
)
_INSERT_ATTEMPTS = Bulk(insert(_A), _ATTEMPT_COLUMNS)
_UPDATE = Bulk(_UPDATE_STATEMENT, _OUTCOME_COLUMNS)


class Recorder:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        single: AsyncEngine | None = None,
        batch: int = 500,
        interval: float = 0.005,
        on_retired: Invalidate | None = None,
        events: EventLog | None = None,
    ) -> None:
        self._engine = engine
        # An engine without transactions, for a batch that is one statement (PostgreSQL, no
        # retirements); None: every batch is written in a transaction.
        self._single = single
        self._batch = batch
        self._interval = interval
        self._on_retired = on_retired
        # Consumers of the sent/failed/dead milestones, written in the batch's transaction.
        self._events = events if events is not None and events.consumers else None
        self._pending: list[tuple[Result, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def record(self, result: Result) -> None:
        """Return once the result is committed; raise if it could not be."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="recorder")
        # The task's loop, not get_running_loop(): on Python 3.11 that is a getpid() call.
        fut: asyncio.Future[None] = self._task.get_loop().create_future()
        self._pending.append((result, fut))
        self._wake.set()
        await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._pending) < self._batch:
                await asyncio.sleep(self._interval)
            items, self._pending = self._pending[: self._batch], self._pending[self._batch :]
            if self._pending:
                self._wake.set()
            if not items:
                continue
            try:
                await self._write([r for r, _ in items])
            except Exception as exc:
                log.warning("recording %d outcomes failed: %s", len(items), exc)
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, fut in items:
                if not fut.done():
                    fut.set_result(None)
            await self._after(items)

    async def _after(self, items: list[tuple[Result, asyncio.Future[None]]]) -> None:
        if self._on_retired is None:
            return
        for r, _ in items:
            if r.retire is not None and r.user_id is not None:
                await self._on_retired(r.app_id, r.user_id)

    async def _write(self, results: list[Result]) -> None:
        """Write the batch, each delivery once: a second result for a delivery already in it (a
        worker whose lease ran out mid-send and that claimed the delivery again holds two, under
        one owner) follows in a write of its own, after the first has settled the delivery, so
        it logs its attempt and writes and counts nothing, as any stale result. In one
        statement both would pass the lease test, the row would be written once and its
        milestone counted twice."""
        first: list[Result] = []
        again: list[Result] = []
        seen: set[uuid.UUID] = set()
        for r in results:
            (again if r.delivery_id in seen else first).append(r)
            seen.add(r.delivery_id)
        await self._write_batch(first)
        if again:
            await self._write(again)

    async def _write_batch(self, results: list[Result]) -> None:
        now = utcnow()
        attempts: list[tuple[Any, ...]] = []  # in `_ATTEMPT_COLUMNS`' order
        updates: list[tuple[Any, ...]] = []  # in `_OUTCOME_COLUMNS`' order
        for r in results:
            calls = (r.lost, *r.calls) if r.lost is not None else r.calls
            for i, call in enumerate(calls, start=1):
                attempts.append(
                    (
                        uuid7(),
                        r.delivery_id,
                        r.app_id,
                        r.attempts_before + i,
                        call.provider,
                        call.outcome,
                        call.code,
                        call.detail,
                        call.started_at,
                        call.duration_ms,
                    )
                )
            updates.append(
                (
                    r.delivery_id,
                    r.owner,
                    r.state,
                    r.unknowns,
                    r.reason,
                    r.attempts_before + len(calls),
                    r.available_at or now,
                    r.provider,
                    r.provider_message_id,
                    now if r.finished else None,
                    now,
                )
            )
        retiring = [r for r in results if r.retire is not None]
        milestones = self._milestones(results)
        # Counted without event objects when the rollups alone want them (`EventLog.foldable`).
        folded = None
        if milestones:
            assert self._events is not None
            if await self._events.foldable({(t.app_id, kind) for kind, t, _ in milestones}):
                folded = fold_targets((kind, t) for kind, t, _ in milestones)
        publish = bool(milestones) and folded is None
        if self._single is not None and not retiring and not publish:
            async with self._single.connect() as conn:
                if folded is None:
                    await self._statements(conn, attempts, updates, now)
                else:
                    arrays = tuple_arrays(attempts, _ATTEMPT_COLUMNS, "a_") | tuple_arrays(updates, _OUTCOME_COLUMNS)
                    await conn.execute(_RECORD_PG_FOLDED, arrays | folded)
            return
        async with self._engine.begin() as conn:
            applied = await self._statements(conn, attempts, updates, now, named=bool(milestones))
            await self._retire(conn, retiring, now)
            if folded is not None:
                await stage_folded(conn, folded, applied)
            elif publish:
                assert self._events is not None
                recorded = [
                    lifecycle(kind, t, now, None if kind == EventKind.SENT else reason)
                    for kind, t, reason in milestones
                    if t.delivery_id in applied
                ]
                await self._events.publish(conn, recorded)

    def _milestones(self, results: list[Result]) -> list[tuple[str, EventTarget, str | None]]:
        """(kind, target, reason) of each of Herald's milestones the batch reaches, for the
        event consumers; no event object yet: the rollups fold them from these alone."""
        if self._events is None:
            return []
        out: list[tuple[str, EventTarget, str | None]] = []
        for r in results:
            kind = _MILESTONES.get(r.state)
            if kind is not None and r.target is not None:
                out.append((kind, r.target, r.reason))
        return out

    async def _statements(
        self,
        conn: AsyncConnection,
        attempts: list[tuple[Any, ...]],
        updates: list[tuple[Any, ...]],
        now: datetime,
        *,
        named: bool = False,
    ) -> set[uuid.UUID]:
        """Write the batch (stamped `now`); with `named`, the ids of the deliveries it wrote (else empty)."""
        if conn.dialect.name == "postgresql":
            arrays = tuple_arrays(attempts, _ATTEMPT_COLUMNS, "a_") | tuple_arrays(updates, _OUTCOME_COLUMNS)
            if not named:
                await conn.execute(_RECORD_PG, arrays)
                return set()
            return set((await conn.execute(_RECORD_PG_RETURNING, arrays)).scalars())
        await _INSERT_ATTEMPTS.run(conn, attempts)
        written = await _UPDATE.run(conn, updates)
        ids = [u[0] for u in updates]  # b_id
        if not named or written == len(ids):
            return set(ids) if named else set()
        # Some were stale (their lease taken over): the rows this batch wrote carry its `now`.
        rows = await conn.execute(select(_D.c.id).where(_D.c.id.in_(ids), _D.c.updated_at == now))
        return set(rows.scalars())

    async def _retire(self, conn: AsyncConnection, results: list[Result], now: datetime) -> None:
        addresses = []
        for r in results:
            ret = r.retire
            assert ret is not None
            if ret.device_id is not None:
                # APNs' 410 timestamp rule: a token registered again after it died is alive.
                fresh: ColumnElement[bool] = (
                    or_(Device.last_seen.is_(None), Device.last_seen <= ret.since) if ret.since else true()
                )
                await conn.execute(
                    update(Device)
                    .where(and_(Device.id == ret.device_id, Device.active.is_(True), fresh))
                    .values(active=False, retired_reason=ret.reason[:200], retired_at=now)
                )
            elif ret.address and ret.channel:
                addresses.append(
                    {
                        "app_id": r.app_id,
                        "channel": ret.channel,
                        "address": ret.address,
                        "reason": ret.reason[:200],
                        "created_at": now,
                    }
                )
        await suppress(conn, addresses)

    async def close(self) -> None:
        if self._task is not None:
            # Let what is already handed in be written before stopping.
            if self._pending:
                await asyncio.gather(*(fut for _, fut in self._pending), return_exceptions=True)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
