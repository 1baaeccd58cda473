"""The transactional outbox: queue announcements written in the same transaction as the log.

With a separate broker (Redis), the API cannot publish and commit atomically. It commits
outbox rows with the deliveries instead, and publishes them itself after the commit; the
relay publishes whatever is left (queue/outbox.py, queue/relay.py). A crash between commit
and publish only delays a message.

One row per write (a request, a replay), holding the deliveries it queued as `[id, channel]`
pairs; requests that share a group commit's transaction still write a row each:
a row per delivery cost an index entry and a dead tuple per delivery (insert, then delete),
measured side by side flat out at 0.18 against 0.17 ms of PostgreSQL CPU per delivery.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.clock import utcnow
from herald.kit.db import Base, UtcDateTime


class OutboxEntry(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    # [[delivery id, channel], ...]: the deliveries its write queued.
    entries: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
