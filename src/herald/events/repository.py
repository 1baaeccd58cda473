"""Every statement on the timeline, a batch at a time: the deliveries events name (locked, so
concurrent writers of one delivery's verdicts take turns), the events, the outcome ladder,
engagement summaries, and the suppressions a provider's verdict calls for.

A provider posts thousands of receipts a second; each statement here takes a whole batch, so
recording costs a handful of round trips per batch, not per event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import String, Table, Uuid, bindparam, case, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from herald.events.kinds import OUTCOME_RANK
from herald.events.models import DeliveryEvent, Engagement
from herald.kit.db import column_arrays, in_list, unnest_arrays, upsert_insert
from herald.notifications.models import Delivery, Notification

_E = cast(Table, DeliveryEvent.__table__)
_G = cast(Table, Engagement.__table__)
_D = cast(Table, Delivery.__table__)


@dataclass(frozen=True, slots=True)
class Target:
    """What an event needs to know of the delivery it names."""

    delivery_id: uuid.UUID
    app_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    user_id: str | None
    category: str | None
    template: str | None
    # The template's version the delivery recorded at intake (`deliveries.template_version`:
    # the one live when it was accepted, fixed then); None: inline content, or accepted before
    # templates had versions. The rollups key every event of the delivery on it.
    template_version: int | None
    provider: str | None
    # When Herald accepted it: rollups count a delivery's whole story in the hour it was
    # accepted (a cohort), so late and reordered events land in the same bucket as the send.
    created_at: datetime

    @classmethod
    def of(cls, d: DeliveryFacts, n: NotificationFacts, provider: str | None) -> Target:
        """The target of a delivery and its notification as the writers hold them (the
        intake's plan, the worker's claimed rows)."""
        return cls(d.id, d.app_id, n.id, d.channel, n.user_id, n.category, n.template, d.template_version,
                   provider, d.created_at)  # fmt: skip


class DeliveryFacts(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def app_id(self) -> uuid.UUID: ...
    @property
    def channel(self) -> str: ...
    @property
    def template_version(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...


class NotificationFacts(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def template(self) -> str | None: ...


_N = cast(Table, Notification.__table__)
_TARGET_COLUMNS = (
    *(_D.c.id, _D.c.app_id, _D.c.notification_id, _D.c.channel),
    *(_N.c.user_id, _N.c.category, _N.c.template),
    *(_D.c.template_version, _D.c.provider, _D.c.created_at, _D.c.outcome),
)


def _targets(dialect: str) -> Any:
    """The deliveries named (`:ids`) with their notifications' facts, in id order; locked
    on PostgreSQL. Core, not the ORM: it runs for every batch of callbacks and pixels, and
    the ORM's compile and row loading were a twentieth of the API's CPU per receipt."""
    stmt = (
        select(*_TARGET_COLUMNS)
        .select_from(_D.join(_N, _N.c.id == _D.c.notification_id))
        .where(in_list(_D.c.id, "ids", dialect))
        .order_by(_D.c.id)
    )
    return stmt.with_for_update(of=_D) if dialect == "postgresql" else stmt


_TARGETS = {dialect: _targets(dialect) for dialect in ("postgresql", "sqlite")}


async def targets(
    conn: AsyncConnection, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, Target], dict[uuid.UUID, str | None]]:
    """The deliveries named, and each one's outcome so far, locked until the commit on
    PostgreSQL (in id order, so two writers never wait on each other in a cycle)."""
    if not ids:
        return {}, {}
    rows = (await conn.execute(_TARGETS[conn.dialect.name], {"ids": sorted(set(ids))})).all()
    return {row[0]: Target(*row[:10]) for row in rows}, {row[0]: row[10] for row in rows}


# PostgreSQL: the batch as one array per column, unnested: one parameter set, encoded by the
# driver, however many events. The generic statement below costs SQLAlchemy a parameter set
# per row to build and process, which was the largest part of the API's CPU in a batch of
# receipts after the HTTP itself.
_EVENT_COLUMNS = (
    *(("id", "uuid"), ("app_id", "uuid"), ("delivery_id", "uuid"), ("kind", "text"), ("source", "text")),
    *(("code", "text"), ("detail", "text"), ("occurred_at", "timestamptz"), ("recorded_at", "timestamptz")),
    ("dedupe", "text"),
)
_EVENT_NAMES = tuple(name for name, _ in _EVENT_COLUMNS)
_INSERT_EVENTS_PG = text(
    f"INSERT INTO delivery_events ({', '.join(_EVENT_NAMES)})"  # noqa: S608 (constant names)
    f" SELECT * FROM unnest({unnest_arrays(_EVENT_COLUMNS)})"
    " ON CONFLICT (delivery_id, dedupe) DO NOTHING RETURNING delivery_id, dedupe"
).columns(delivery_id=Uuid(), dedupe=String())


async def insert_events(conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[tuple[uuid.UUID, str]]:
    """The events, each unless its delivery already has one with its dedupe value (`rows`
    name each (delivery, dedupe) once); the (delivery_id, dedupe) of those that are new."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        return {(row[0], row[1]) for row in await conn.execute(_INSERT_EVENTS_PG, column_arrays(rows, _EVENT_NAMES))}
    # SQLite: one statement, the rows as its parameters (SQLAlchemy's "insertmanyvalues"),
    # compiled once per process; a `.values(rows)` statement would compile for every batch.
    result = await conn.execute(_insert_events(conn), rows)
    return {(row[0], row[1]) for row in result}


def _insert_events(conn: AsyncConnection) -> Any:
    stmt = upsert_insert(conn, _E).on_conflict_do_nothing(index_elements=["delivery_id", "dedupe"])
    return stmt.returning(_E.c.delivery_id, _E.c.dedupe)


_RANK = case(*((_D.c.outcome == outcome, rank) for outcome, rank in OUTCOME_RANK.items()), else_=0)
_ADVANCE = (
    update(_D)
    .where(_D.c.id == bindparam("d_id"), bindparam("d_rank") > _RANK)
    .values(outcome=bindparam("d_outcome"), outcome_code=bindparam("d_code"), outcome_at=bindparam("d_at"))
)
# The same on PostgreSQL as one statement over arrays (each delivery once in a batch).
_RANK_SQL = "CASE d.outcome " + " ".join(f"WHEN '{o}' THEN {r}" for o, r in OUTCOME_RANK.items()) + " ELSE 0 END"
_MOVE = (("d_id", "uuid"), ("d_rank", "int"), ("d_outcome", "text"), ("d_code", "text"), ("d_at", "timestamptz"))
_MOVE_NAMES = tuple(name for name, _ in _MOVE)
_ADVANCE_PG = text(
    "UPDATE deliveries AS d SET outcome = v.outcome, outcome_code = v.code, outcome_at = v.at"  # noqa: S608 (constants)
    f" FROM unnest({unnest_arrays(_MOVE)}) AS v(id, rank, outcome, code, at)"
    f" WHERE d.id = v.id AND v.rank > {_RANK_SQL}"
)


async def advance_outcomes(conn: AsyncConnection, moves: list[dict[str, Any]]) -> None:
    """Move each delivery's outcome up the ladder (the rank test keeps it from ever going
    down); `moves` name each delivery once."""
    if not moves:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_ADVANCE_PG, column_arrays(moves, _MOVE_NAMES))
    else:
        await conn.execute(_ADVANCE, moves)


async def engage(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[tuple[uuid.UUID, str], int]:
    """Add to each (delivery, kind)'s engagement summary; the count each one has now."""
    if not rows:
        return {}
    # As the events: one statement compiled once, the rows as its parameters. The rows come
    # sorted by (delivery, kind), so two writers lock the summaries in the same order.
    result = await conn.execute(_engage(conn), rows)
    return {(row[0], row[1]): int(row[2]) for row in result}


def _engage(conn: AsyncConnection) -> Any:
    stmt = upsert_insert(conn, _G)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["delivery_id", "kind"],
        # Events arrive out of order: the earliest and the latest, whichever came when.
        set_={
            "count": _G.c.count + new.count,
            "first_at": case((new.first_at < _G.c.first_at, new.first_at), else_=_G.c.first_at),
            "last_at": case((new.last_at > _G.c.last_at, new.last_at), else_=_G.c.last_at),
        },
    )
    return stmt.returning(_G.c.delivery_id, _G.c.kind, _G.c.count)


async def timeline(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DeliveryEvent]]:
    if not delivery_ids:
        return {}
    stmt = (
        select(DeliveryEvent)
        .where(DeliveryEvent.delivery_id.in_(list(delivery_ids)))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
    )
    out: dict[uuid.UUID, list[DeliveryEvent]] = {}
    for e in (await session.scalars(stmt)).all():
        out.setdefault(e.delivery_id, []).append(e)
    return out


async def engagements(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Engagement]]:
    if not delivery_ids:
        return {}
    stmt = select(Engagement).where(Engagement.delivery_id.in_(list(delivery_ids))).order_by(Engagement.kind)
    out: dict[uuid.UUID, list[Engagement]] = {}
    for e in (await session.scalars(stmt)).all():
        out.setdefault(e.delivery_id, []).append(e)
    return out
