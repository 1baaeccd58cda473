"""Leasing deliveries in the log and loading them with everything the send path needs, in a
few queries per batch (one on PostgreSQL)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Executable, Update, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from herald.kit.db import in_list
from herald.notifications.models import Delivery, Notification, NotificationRow, idempotency_key
from herald.queue.lease import TAKEN_OVER, held_by_ids, lease_by_ids, lease_due
from herald.recipients.models import Suppression
from herald.templates.models import Template
from herald.templates.repository import contents as template_contents


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """The delivery row as the send path reads it (a plain row: ORM instances, with their
    identity map and state tracking, cost a tenth of a push worker's CPU for nothing here)."""

    id: uuid.UUID
    app_id: uuid.UUID
    channel: str
    device_id: uuid.UUID | None
    address: str | None
    state: str
    # `queue.lease.TAKEN_OVER` when this claim took the delivery over from a stopped worker.
    reason: str | None
    attempts: int
    unknowns: int
    retry_base: int
    replayed_at: datetime | None
    lease_owner: str | None
    created_at: datetime
    # The template version recorded at intake: carried to the delivery's events (and so the
    # rollups) from the row the claim reads anyway, not looked up per delivery.
    template_version: int | None

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)

    @property
    def taken_over(self) -> bool:
        """Leased from a worker that stopped mid-send: one send's outcome was lost."""
        return self.reason == TAKEN_OVER


@dataclass(frozen=True, slots=True)
class Work:
    """One claimed delivery, its notification, and the content it will be rendered from."""

    delivery: ClaimedDelivery
    notification: NotificationRow
    channels: dict[str, Any]
    locales: dict[str, Any]
    suppressed: bool = False
    # The template's tracking options ({"opens": bool, "clicks": bool}); None: the defaults.
    tracking: dict[str, Any] | None = None


_D_COLUMNS = [getattr(Delivery, f.name) for f in fields(ClaimedDelivery)]
_N_COLUMNS = [getattr(Notification, f.name) for f in fields(NotificationRow)]
_SPLIT = len(_D_COLUMNS)


@dataclass(frozen=True, slots=True)
class Due:
    """Up to `limit` due deliveries of `channel`: what a claim takes where the log is the queue."""

    channel: str
    limit: int


# What a lease takes: the ids a transport carried, or a channel's due rows of the log.
Pick: TypeAlias = Sequence[uuid.UUID] | Due


_Uuid: TypeAlias = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]


@dataclass(frozen=True, slots=True)
class _Statements:
    load: Executable
    suppressed: Executable
    lease_ids: Executable
    lease_due: Executable
    lease_load_ids: Executable
    lease_load_due: Executable
    held: Executable


def _of_notification(notification_id: _Uuid, app_id: _Uuid) -> ColumnElement[bool]:
    """A delivery's notification, by its app too: the primary key and the activity index
    (app_id, id) then both find it at once. By id alone, a plan made while the log was empty
    (the keyed engine's: see `kit.db.keyed_engine`) could walk the activity index whole."""
    return (Notification.id == notification_id) & (Notification.app_id == app_id)


def _lease_load(lease: Update) -> Executable:
    """A lease and the load of what it took in one statement: the UPDATE ... RETURNING in a
    CTE, each leased row's notification and template looked up by key (PostgreSQL).

    The lookups are LATERAL with a LIMIT, which PostgreSQL never flattens into a join: each is
    an index lookup per leased row, whatever the plan's estimates. As a join, a plan made while
    the log was empty (the keyed engine's, `kit.db.keyed_engine`) hashed the whole
    notifications table against the leased rows.
    """
    leased = lease.returning(*_D_COLUMNS, Delivery.notification_id).cte("leased")
    n = select(*_N_COLUMNS).where(_of_notification(leased.c.notification_id, leased.c.app_id)).limit(1).lateral("n")
    by_key = (Template.app_id == n.c.app_id) & (Template.key == n.c.template)
    t = select(Template.content).where(by_key).limit(1).lateral("t")
    return (
        select(*(leased.c[c.key] for c in _D_COLUMNS), *n.c, t.c.content)
        .select_from(leased)
        .join(n, true())
        .outerjoin(t, true())
    )


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per backend: constructing a select and its cache key costs about as much as
    running it, and with `in_list` every batch size shares one prepared statement.

    Suppressions are looked up by each column's set of values (their primary key serves
    that), and the exact triples are picked out here.
    """
    return _Statements(
        load=select(*_D_COLUMNS, *_N_COLUMNS)
        .join(Notification, _of_notification(Delivery.notification_id, Delivery.app_id))
        .where(in_list(Delivery.id, "ids", dialect), Delivery.lease_owner == bindparam("owner")),
        suppressed=select(Suppression.app_id, Suppression.channel, Suppression.address).where(
            in_list(Suppression.app_id, "apps", dialect),
            in_list(Suppression.channel, "channels", dialect),
            in_list(Suppression.address, "addresses", dialect),
        ),
        lease_ids=lease_by_ids(dialect).returning(Delivery.id),
        lease_due=lease_due(dialect).returning(Delivery.id),
        lease_load_ids=_lease_load(lease_by_ids(dialect)),
        lease_load_due=_lease_load(lease_due(dialect)),
        held=held_by_ids(dialect),
    )


def _lease_params(pick: Pick, owner: str, now: datetime, until: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {"owner": owner, "now": now, "until": until}
    if isinstance(pick, Due):
        return {**params, "for_channel": pick.channel, "limit": pick.limit}
    return {**params, "ids": list(pick)}


async def load(conn: AsyncConnection, ids: Sequence[uuid.UUID], owner: str) -> list[Work]:
    """The deliveries still leased to `owner`; one leased away meanwhile is dropped.

    Plain Core on a connection: the send path reads rows, and an ORM session's compile and
    result machinery cost more per statement than the statement itself at small batches.
    """
    q = _statements(conn.dialect.name)
    rows = (await conn.execute(q.load, {"ids": list(ids), "owner": owner})).all()
    pairs = [(ClaimedDelivery(*row[:_SPLIT]), NotificationRow(*row[_SPLIT:])) for row in rows]
    templates = await template_contents(conn, {(n.app_id, n.template) for _, n in pairs if n.template})
    return [_work(d, n, templates.get((n.app_id, n.template)) if n.template else None) for d, n in pairs]


async def lease(conn: AsyncConnection, pick: Pick, owner: str, now: datetime, until: datetime) -> list[uuid.UUID]:
    """Lease to `owner` until `until` those of `pick` still claimable; their ids."""
    q = _statements(conn.dialect.name)
    stmt = q.lease_due if isinstance(pick, Due) else q.lease_ids
    return list((await conn.execute(stmt, _lease_params(pick, owner, now, until))).scalars().all())


async def lease_and_load(conn: AsyncConnection, pick: Pick, owner: str, now: datetime, until: datetime) -> list[Work]:
    """Lease to `owner` those of `pick` still claimable and return them loaded, in one
    statement (PostgreSQL only: SQLite has no UPDATE in a CTE).

    The lease, the load and the template lookup were three round trips per claimed batch, and
    at a steady load a batch is a handful of deliveries, so each cost nearly as much as the
    sends it fed.
    """
    q = _statements(conn.dialect.name)
    stmt = q.lease_load_due if isinstance(pick, Due) else q.lease_load_ids
    rows = (await conn.execute(stmt, _lease_params(pick, owner, now, until))).all()
    end = len(_N_COLUMNS) + _SPLIT
    return [_work(ClaimedDelivery(*r[:_SPLIT]), NotificationRow(*r[_SPLIT:end]), r[end]) for r in rows]


async def held(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `ids` leased (`sending`) by another worker, live or not yet timed out."""
    if not ids:
        return set()
    return set((await conn.scalars(_statements(conn.dialect.name).held, {"ids": list(ids)})).all())


def _work(d: ClaimedDelivery, n: NotificationRow, template: dict[str, Any] | None) -> Work:
    """A template's stored content, or the notification's own inline content."""
    if n.template:
        channels, locales = (template.get("channels", {}), template.get("locales", {})) if template else ({}, {})
    else:
        channels, locales = n.content or {}, {}
    return Work(d, n, channels, locales, tracking=template.get("tracking") if template else None)


async def suppressed(conn: AsyncConnection, pairs: set[tuple[uuid.UUID, str, str]]) -> set[tuple[uuid.UUID, str, str]]:
    """Which (app, channel, address) pairs are suppressed."""
    if not pairs:
        return set()
    params = {
        "apps": list({a for a, _, _ in pairs}),
        "channels": list({c for _, c, _ in pairs}),
        "addresses": list({addr for _, _, addr in pairs}),
    }
    rows = await conn.execute(_statements(conn.dialect.name).suppressed, params)
    return {(a, c, addr) for a, c, addr in rows.all() if (a, c, addr) in pairs}
