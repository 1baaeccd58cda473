"""The hot queries are served by indexes on PostgreSQL (EXPLAIN, with sequential scans off)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import or_, select, text, update
from sqlalchemy.sql import Executable

from herald.kit.clock import utcnow
from herald.notifications.models import Attempt, Delivery, DeliveryState, Notification
from herald.queue.models import OutboxEntry
from herald.runtime import Runtime

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
        compiled = HOT[name].compile(conn.sync_connection, compile_kwargs={"literal_binds": True})  # type: ignore[union-attr]
        plan = "\n".join(r[0] for r in (await conn.execute(text(f"EXPLAIN {compiled}"))).all())
    assert "Seq Scan" not in plan, plan
    if name == "dedup lookup":  # not another index that merely starts with app_id
        assert "uq_notifications_app_id_event_id" in plan, plan
