"""Every SQL statement about notifications, deliveries and attempts on the intake/read side."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, cast

import orjson
from sqlalchemy import Select, Table, insert, literal_column, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from herald.analytics.consumer import stage_folded
from herald.analytics.repository import fold_ctes
from herald.kit.bulk import Bulk
from herald.kit.db import dialect_name
from herald.notifications.intake import NewDelivery, Plan
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification, NotificationRow
from herald.notifications.search import Search
from herald.queue.outbox import write_outbox

# Tables, not ORM entities: an ORM bulk insert groups rows by which values are None, so a
# batch mixing push (with a device) and email (without) went out almost one row per execute.
_N = cast(Table, Notification.__table__)
_D = cast(Table, Delivery.__table__)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


# PostgreSQL: the whole batch in one statement, whatever its size (one prepared statement,
# arrays unnested into rows): the notifications that are new, their deliveries, and one
# outbox row holding the queued ones, whose id comes back for the delete after the publish.
# The deliveries of a notification that lost the dedup race are filtered out by joining on
# what was inserted.
_COMMON_PG = """
    WITH n AS (
        INSERT INTO notifications (id, app_id, event_id, user_id, recipient, template, data, content,
                                   category, critical, send_at, created_at)
        SELECT * FROM unnest(
            CAST(:n_id AS uuid[]), CAST(:n_app_id AS uuid[]), CAST(:n_event_id AS text[]),
            CAST(:n_user_id AS text[]), CAST(:n_recipient AS jsonb[]), CAST(:n_template AS text[]),
            CAST(:n_data AS jsonb[]), CAST(:n_content AS jsonb[]), CAST(:n_category AS text[]),
            CAST(:n_critical AS boolean[]), CAST(:n_send_at AS timestamptz[]), CAST(:n_created_at AS timestamptz[])
        )
        ON CONFLICT (app_id, event_id) DO NOTHING
        RETURNING id
    ), d AS (
        INSERT INTO deliveries (id, app_id, notification_id, channel, device_id, platform, address, state,
                                reason, available_at, created_at, updated_at, finished_at,
                                template_version, attempts, unknowns, replays, retry_base)
        SELECT v.*, 0, 0, 0, 0 FROM unnest(
            CAST(:d_id AS uuid[]), CAST(:d_app_id AS uuid[]), CAST(:d_notification_id AS uuid[]),
            CAST(:d_channel AS text[]), CAST(:d_device_id AS uuid[]), CAST(:d_platform AS text[]),
            CAST(:d_address AS text[]), CAST(:d_state AS text[]), CAST(:d_reason AS text[]),
            CAST(:d_available_at AS timestamptz[]), CAST(:d_created_at AS timestamptz[]),
            CAST(:d_updated_at AS timestamptz[]), CAST(:d_finished_at AS timestamptz[]),
            CAST(:d_template_version AS integer[])
        ) AS v(id, app_id, notification_id, channel, device_id, platform, address, state, reason,
               available_at, created_at, updated_at, finished_at, template_version)
        WHERE v.notification_id IN (SELECT id FROM n)
        RETURNING id, channel, state
    )"""
# Assembled from constants only, no input.
_INSERT_PG = text(_COMMON_PG + "\n    SELECT id FROM n")  # noqa: S608
_OUTBOX_PG = """, o AS (
        INSERT INTO outbox (entries, created_at)
        SELECT json_agg(json_build_array(id, channel) ORDER BY id), now() FROM d WHERE state = 'queued'
        HAVING count(*) > 0
        RETURNING id
    )
    SELECT id, NULL::bigint FROM n UNION ALL SELECT NULL::uuid, id FROM o"""
_INSERT_PG_OUTBOX = text(_COMMON_PG + _OUTBOX_PG)
# The same with each new delivery's `accepted` counted in the rollups (`fold_ctes`: only the
# deliveries `d` inserted count), when no other event consumer has anything to write for it.
_FOLD = ", " + fold_ctes("d")
_INSERT_PG_FOLDED = text(_COMMON_PG + _FOLD + "\n    SELECT id FROM n")  # noqa: S608
_INSERT_PG_OUTBOX_FOLDED = text(_COMMON_PG + _FOLD + _OUTBOX_PG)
_JSON_COLUMNS = frozenset({"recipient", "data", "content"})


_N_NAMES = tuple(f.name for f in fields(NotificationRow))
_D_NAMES = tuple(f.name for f in fields(NewDelivery))

# SQLite: a batch by executemany (`kit.bulk`), without RETURNING: the rows that went in are
# told by the count, and looked up only when an event id was already in the log.
_INSERT_N = Bulk(sqlite.insert(_N).on_conflict_do_nothing(index_elements=["app_id", "event_id"]), _N_NAMES)
_INSERT_D = Bulk(
    insert(_D).values({c: literal_column("0") for c in ("attempts", "unknowns", "replays", "retry_base")}), _D_NAMES
)
_n_values = attrgetter(*_N_NAMES)
_d_values = attrgetter(*_D_NAMES)


def _arrays(
    rows: Sequence[NotificationRow] | Sequence[NewDelivery], columns: tuple[str, ...], prefix: str
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for c in columns:
        values = [getattr(r, c) for r in rows]
        out[prefix + c] = [_json(v) for v in values] if c in _JSON_COLUMNS else values
    return out


@dataclass(frozen=True, slots=True)
class Inserted:
    notifications: set[uuid.UUID]
    outbox_rows: list[int]


async def insert_plans(
    session: AsyncSession, plans: Sequence[Plan], *, outbox: bool, fold: dict[str, list[Any]] | None = None
) -> Inserted:
    """Insert the notifications that are new and their deliveries.

    `ON CONFLICT DO NOTHING` on (app_id, event_id) makes dedup race-free across API
    processes: of two concurrent requests with one event id, exactly one row wins. With
    `outbox`, the queued deliveries also get one outbox row, for them all, in the same
    transaction. `fold`: the parameters of the rollups' counts of every planned delivery's
    `accepted` (`analytics.consumer.fold_arrays`), of which those of the deliveries inserted are
    staged: on PostgreSQL by the same statement, on SQLite in its transaction.
    """
    if not plans:
        return Inserted(set(), [])
    notifications = [p.notification for p in plans]
    deliveries = [d for p in plans for d in p.deliveries]
    if dialect_name(session) == "postgresql":
        params = _arrays(notifications, _N_NAMES, "n_") | _arrays(deliveries, _D_NAMES, "d_")
        if fold is not None:
            params |= fold
        if not outbox:
            stmt = _INSERT_PG if fold is None else _INSERT_PG_FOLDED
            return Inserted({row[0] for row in await session.execute(stmt, params)}, [])
        both = (await session.execute(_INSERT_PG_OUTBOX if fold is None else _INSERT_PG_OUTBOX_FOLDED, params)).all()
        return Inserted({n for n, _ in both if n is not None}, [o for _, o in both if o is not None])
    conn = await session.connection()
    inserted = {n.id for n in notifications}
    if await _INSERT_N.run(conn, [_n_values(n) for n in notifications]) < len(notifications):
        # An event id already in the log: its row kept its own id, so ours is absent.
        inserted = set((await conn.execute(select(_N.c.id).where(_N.c.id.in_(inserted)))).scalars())
    new = [d for d in deliveries if d.notification_id in inserted]
    outbox_rows: list[int] = []
    if new:
        await _INSERT_D.run(conn, [_d_values(d) for d in new])
        if outbox:
            queued = [(d.id, d.channel) for d in new if d.state == DeliveryState.QUEUED.value]
            outbox_rows = await write_outbox(session, queued)
        if fold is not None:
            await stage_folded(conn, fold, {d.id for d in new})
    return Inserted(inserted, outbox_rows)


async def by_event_ids(session: AsyncSession, app_id: uuid.UUID, event_ids: Iterable[str]) -> dict[str, Notification]:
    ids = list(set(event_ids))
    if not ids:
        return {}
    rows = await session.scalars(
        select(Notification).where(Notification.app_id == app_id, Notification.event_id.in_(ids))
    )
    return {n.event_id: n for n in rows}


async def deliveries_of(
    session: AsyncSession, notification_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Delivery]]:
    out: dict[uuid.UUID, list[Delivery]] = {i: [] for i in notification_ids}
    if not notification_ids:
        return out
    rows = await session.scalars(
        select(Delivery).where(Delivery.notification_id.in_(notification_ids)).order_by(Delivery.id)
    )
    for d in rows:
        out[d.notification_id].append(d)
    return out


async def attempts_of(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attempt]]:
    out: dict[uuid.UUID, list[Attempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return out
    rows = await session.scalars(select(Attempt).where(Attempt.delivery_id.in_(delivery_ids)).order_by(Attempt.number))
    for a in rows:
        out[a.delivery_id].append(a)
    return out


async def get(session: AsyncSession, app_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    return await session.scalar(
        select(Notification).where(Notification.app_id == app_id, Notification.id == notification_id)
    )


def page_query(app_id: uuid.UUID, search: Search, *, before_id: uuid.UUID | None, limit: int) -> Select[Any]:
    """A page of the app's notifications matching `search`, newest first, keyset-paginated on
    the time-ordered id.

    Every filter is an equality on the leading columns of an index that ends in the id, and
    the time range and the cursor bound that id, so each is one ordered range scan; the
    delivery filters are a semi-join on (app_id, <column>, notification_id).
    """
    low, high = search.id_range()
    if before_id is not None and (high is None or before_id < high):
        high = before_id
    # `id IS NOT NULL` (always true) is what lets the (app_id, id) index serve the search: it
    # is partial on it, so that the intake's dedup lookup never uses it (migration 0014).
    stmt = select(Notification).where(Notification.app_id == app_id, Notification.id.is_not(None))
    for column, value in (
        (Notification.user_id, search.user_id),
        (Notification.event_id, search.event_id),
        (Notification.template, search.template),
        (Notification.category, search.category),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if search.created_after is not None:
        stmt = stmt.where(Notification.created_at >= search.created_after)
    if search.created_before is not None:
        stmt = stmt.where(Notification.created_at < search.created_before)
    if low is not None:
        stmt = stmt.where(Notification.id >= low)
    if high is not None:
        stmt = stmt.where(Notification.id < high)
    if search.by_delivery:
        stmt = stmt.where(Notification.id.in_(_matching_deliveries(app_id, search, low, high)))
    return stmt.order_by(Notification.id.desc()).limit(limit)


async def stamp_template_version(session: AsyncSession, notification_id: uuid.UUID, version: int) -> None:
    """Record on a test send's deliveries the template version it rendered (inline content)."""
    await session.execute(update(_D).where(_D.c.notification_id == notification_id).values(template_version=version))


def _matching_deliveries(
    app_id: uuid.UUID, search: Search, low: uuid.UUID | None, high: uuid.UUID | None
) -> Select[Any]:
    # The id bounds again on this side: they bound the range scan of the deliveries' index.
    stmt = select(Delivery.notification_id).where(Delivery.app_id == app_id)
    for column, value in (
        (Delivery.state, search.state),
        (Delivery.channel, search.channel),
        (Delivery.provider, search.provider),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if low is not None:
        stmt = stmt.where(Delivery.notification_id >= low)
    if high is not None:
        stmt = stmt.where(Delivery.notification_id < high)
    return stmt
