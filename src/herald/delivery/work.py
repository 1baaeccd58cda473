"""Loading claimed deliveries with everything the send path needs, in a few queries per batch."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.kit.db import in_list
from herald.notifications.models import Delivery, Notification, NotificationRow, idempotency_key
from herald.recipients.models import Suppression
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
    attempts: int
    unknowns: int
    retry_base: int
    replayed_at: datetime | None
    lease_owner: str | None
    created_at: datetime

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)


@dataclass(frozen=True, slots=True)
class Work:
    """One claimed delivery, its notification, and the content it will be rendered from."""

    delivery: ClaimedDelivery
    notification: NotificationRow
    channels: dict[str, Any]
    locales: dict[str, Any]
    suppressed: bool = False


_D_COLUMNS = [getattr(Delivery, f.name) for f in fields(ClaimedDelivery)]
_N_COLUMNS = [getattr(Notification, f.name) for f in fields(NotificationRow)]
_SPLIT = len(_D_COLUMNS)


@dataclass(frozen=True, slots=True)
class _Statements:
    load: Executable
    suppressed: Executable


@functools.cache
def _statements(dialect: str) -> _Statements:
    """Built once per backend: constructing a select and its cache key costs about as much as
    running it, and with `in_list` every batch size shares one prepared statement.

    Suppressions are looked up by each column's set of values (their primary key serves
    that), and the exact triples are picked out here.
    """
    return _Statements(
        load=select(*_D_COLUMNS, *_N_COLUMNS)
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(in_list(Delivery.id, "ids", dialect), Delivery.lease_owner == bindparam("owner")),
        suppressed=select(Suppression.app_id, Suppression.channel, Suppression.address).where(
            in_list(Suppression.app_id, "apps", dialect),
            in_list(Suppression.channel, "channels", dialect),
            in_list(Suppression.address, "addresses", dialect),
        ),
    )


async def load(conn: AsyncConnection, ids: Sequence[uuid.UUID], owner: str) -> list[Work]:
    """The deliveries still leased to `owner`; one leased away meanwhile is dropped.

    Plain Core on a connection: the send path reads rows, and an ORM session's compile and
    result machinery cost more per statement than the statement itself at small batches.
    """
    q = _statements(conn.dialect.name)
    rows = (await conn.execute(q.load, {"ids": list(ids), "owner": owner})).all()
    pairs = [(ClaimedDelivery(*row[:_SPLIT]), NotificationRow(*row[_SPLIT:])) for row in rows]
    templates = await template_contents(conn, {(n.app_id, n.template) for _, n in pairs if n.template})
    out = []
    for d, n in pairs:
        if n.template:
            t = templates.get((n.app_id, n.template))
            channels, locales = (t.get("channels", {}), t.get("locales", {})) if t else ({}, {})
        else:
            channels, locales = n.content or {}, {}
        out.append(Work(d, n, channels, locales))
    return out


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
