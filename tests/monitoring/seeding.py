"""Deliveries written straight into the log in the states a queue snapshot counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert

from herald.apps.service import create_app
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.kit.ids import uuid7
from herald.notifications.models import Delivery, DeliveryState, Notification
from herald.runtime import Runtime

# (state, available_at offset from now, seconds): what `seed` writes by default for a channel.
MIX: Sequence[tuple[DeliveryState, float]] = (
    (DeliveryState.QUEUED, -120),  # ready for two minutes: the oldest ready
    (DeliveryState.QUEUED, -5),
    (DeliveryState.QUEUED, 0),
    (DeliveryState.QUEUED, 3600),  # a retry's backoff
    (DeliveryState.QUEUED, 600),
    (DeliveryState.SCHEDULED, 7200),
    (DeliveryState.SENDING, -1),
    (DeliveryState.SENDING, -1),
    (DeliveryState.DEAD, -600),
    (DeliveryState.DELIVERED, -600),  # settled: no queue counts it
    (DeliveryState.FAILED, -600),
)


async def seed(
    runtime: Runtime, channel: Channel, mix: Sequence[tuple[DeliveryState, float]] = MIX, app: str = "monitored"
) -> dict[DeliveryState, list[uuid.UUID]]:
    """One notification with a delivery per entry of `mix`; the ids by state."""
    now = utcnow()
    async with transaction(runtime.sessions) as session:
        creds = await create_app(session, app, runtime.pepper)
        n = uuid7()
        await session.execute(
            insert(Notification).values(
                id=n, app_id=creds.app_id, event_id=uuid.uuid4().hex, data={}, critical=False, created_at=now
            )
        )
        ids: dict[DeliveryState, list[uuid.UUID]] = {}
        for state, offset in mix:
            d = uuid7()
            ids.setdefault(state, []).append(d)
            await session.execute(insert(Delivery).values(_row(d, creds.app_id, n, channel, state, now, offset)))
    return ids


def _row(
    d: uuid.UUID, app_id: uuid.UUID, n: uuid.UUID, channel: Channel, state: DeliveryState, now: datetime, offset: float
) -> dict[str, object]:
    at = now + timedelta(seconds=offset)
    return {
        "id": d,
        "app_id": app_id,
        "notification_id": n,
        "channel": channel.value,
        "address": "ada@example.com",
        "state": state.value,
        "available_at": at,
        "lease_owner": "w" if state == DeliveryState.SENDING else None,
        "lease_until": now + timedelta(seconds=60) if state == DeliveryState.SENDING else None,
        "finished_at": at if state.final else None,
        "created_at": now - timedelta(minutes=10),
        "updated_at": now,
    }
