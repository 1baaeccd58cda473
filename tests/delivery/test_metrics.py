"""What the send path reports to Prometheus: each delivery's wait to its first provider call."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import update

from herald.config import RetrySettings
from herald.kit.clock import utcnow
from herald.kit.db import transaction
from herald.notifications.models import Delivery, Notification
from herald.sandbox.faults import FaultSettings
from herald.sandbox.smtp import SmtpSimulator
from tests.harness import Herald


def _waits() -> tuple[float, float]:
    """(count, sum) of the email channel's accept-to-send histogram in this process."""
    labels = {"channel": "email"}
    count = REGISTRY.get_sample_value("herald_accept_to_send_seconds_count", labels) or 0.0
    total = REGISTRY.get_sample_value("herald_accept_to_send_seconds_sum", labels) or 0.0
    return count, total


async def test_a_delivery_is_timed_once_from_acceptance_not_per_retry(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    herald.runtime.settings.retry = RetrySettings(base=timedelta(milliseconds=10), max_attempts=3)
    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))
    await herald.user()
    await herald.template()
    count0, _ = _waits()
    r = await herald.notify()
    await herald.finish()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    assert (d["state"], d["attempts"]) == ("dead", 3)
    assert _waits()[0] == count0 + 1  # three provider calls, one first send


async def test_a_scheduled_send_is_timed_from_its_scheduled_time(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(send_at=(utcnow() + timedelta(hours=1)).isoformat())
    # Accepted a day ago and due now: timed from acceptance the wait would be a day.
    now, nid = utcnow(), uuid.UUID(r.json()["id"])
    async with transaction(herald.runtime.sessions) as session:
        await session.execute(
            update(Notification).where(Notification.id == nid).values(created_at=now - timedelta(days=1), send_at=now)
        )
        await session.execute(update(Delivery).where(Delivery.notification_id == nid).values(available_at=now))
    count0, sum0 = _waits()
    await herald.drain()
    assert len(herald.inbox.entries()) == 1
    count1, sum1 = _waits()
    assert count1 == count0 + 1
    assert sum1 - sum0 < 600
