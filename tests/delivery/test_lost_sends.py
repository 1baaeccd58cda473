"""A worker that stops mid-send: its lease is taken over, and the lost send stays in the record."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from herald.kit.channels import Channel
from herald.notifications.models import Delivery
from herald.queue.lease import TAKEN_OVER
from herald.queue.recovery import expire_orphaned_leases
from herald.sandbox.smtp import SmtpSimulator
from herald.workers.reconciler import reconcile_once
from tests.harness import Herald


async def test_a_taken_over_lease_records_the_lost_send_before_the_resend(
    herald: Herald, smtp_sim: SmtpSimulator
) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.housekeeping()
    broker = herald.runtime.broker
    # A worker claims the delivery and dies before recording anything (it sent nothing here,
    # but Herald cannot know that).
    [job] = await herald.runtime.claim.take(Channel.EMAIL, "dead-worker", 10, timedelta(hours=1))
    assert await herald.sending() == 1
    # Alone on its database, a restarted process expires the dead lease at once; the Redis
    # broker's entry is still pending for the dead consumer, so the reconciler re-announces it.
    assert await expire_orphaned_leases(herald.runtime.sessions) == 1
    await reconcile_once(herald.runtime.sessions, broker, grace=timedelta(0))
    await herald.drain()

    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    assert d["state"] == "delivered" and d["attempts"] == 2
    lost, resend = d["attempt_log"]
    assert (lost["number"], lost["outcome"], lost["code"], lost["provider"]) == (1, "unknown", TAKEN_OVER, "unknown")
    assert "worker stopped" in lost["detail"]
    assert (resend["number"], resend["outcome"]) == (2, "delivered")
    assert "resent after an unknown outcome" in resend["detail"]
    async with herald.runtime.sessions() as session:
        unknowns = await session.scalar(select(Delivery.unknowns).where(Delivery.id == job.delivery_id))
    assert unknowns == 1  # the takeover counted it once; the lost attempt row does not again
    assert len(smtp_sim.inbox.entries()) == 1


async def test_expiring_leases_leaves_settled_and_queued_deliveries_alone(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    await herald.notify()
    await herald.notify()
    await herald.drain()
    await herald.notify()  # queued, never claimed
    assert await expire_orphaned_leases(herald.runtime.sessions) == 0
    async with herald.runtime.sessions() as session:
        reasons = (await session.scalars(select(Delivery.reason))).all()
    assert TAKEN_OVER not in reasons
