"""What the send path reports to Prometheus: each delivery's wait to its first provider call."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from prometheus_client import REGISTRY

from herald.config import RetrySettings
from herald.kit.clock import utcnow
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
    count0, sum0 = _waits()
    await herald.notify(send_at=(utcnow() + timedelta(milliseconds=1500)).isoformat())
    await asyncio.sleep(1.6)
    await herald.drain()
    assert len(herald.inbox.entries()) == 1
    count1, sum1 = _waits()
    assert count1 == count0 + 1
    # Timed from acceptance it would be at least the 1.5 s it was held for.
    assert sum1 - sum0 < 1.5
