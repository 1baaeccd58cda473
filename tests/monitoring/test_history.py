"""Throughput and accept-to-sent latency per minute, merged across worker processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from herald.config import MonitorSettings
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.monitoring import latency
from herald.monitoring.models import ChannelMinute
from herald.monitoring.reporter import Reporter
from herald.monitoring.throughput import Throughput, minute_of
from herald.runtime import Runtime
from tests.harness import Herald


def test_quantiles_interpolate_within_the_bucket() -> None:
    counts = [0] * latency.SIZE
    counts[latency.bucket(0.07)] += 50  # (0.05, 0.1]
    counts[latency.bucket(0.3)] += 50  # (0.25, 0.5]
    assert latency.quantile(counts, 0.5) == pytest.approx(0.1)
    assert latency.quantile(counts, 0.95) == pytest.approx(0.25 + 0.25 * 45 / 50)
    assert latency.quantile([0] * latency.SIZE, 0.5) is None
    slow = [0] * latency.SIZE
    slow[latency.bucket(10_000)] = 3
    assert latency.quantile(slow, 0.5) == latency.EDGES[-1]
    assert latency.merge([counts, counts, [1, 2]]) == [2 * c for c in counts]  # a foreign length is ignored


async def test_sends_of_two_processes_add_up_per_minute(runtime: Runtime) -> None:
    now = minute_of(utcnow())
    clock = [now - timedelta(minutes=2)]
    first, second = Throughput(lambda: clock[0]), Throughput(lambda: clock[0])
    settings = MonitorSettings()
    one = Reporter(runtime.engine, runtime.router, first, settings)
    two = Reporter(runtime.engine, runtime.router, second, settings)
    for _ in range(3):
        first.sent("sms", 0.07)
    second.sent("sms", 0.3)
    await one.publish()
    await two.publish()
    clock[0] = now + timedelta(seconds=5)
    first.sent("sms", 2.0)
    first.sent("email", 0.07)
    await one.publish()
    first.sent("email", 0.07)  # the same minute again: the row is overwritten with the totals
    await one.publish()

    series = {h.channel: h.points for h in await runtime.monitor().history(timedelta(minutes=5))}

    assert set(series) == {c.value for c in Channel.all()}
    sms = series["sms"]
    assert len(sms) == 5 and sms[-1].minute == now and sms[0].minute == now - timedelta(minutes=4)
    assert [p.sent for p in sms] == [0, 0, 4, 0, 1]
    two_ago = sms[2]
    assert two_ago.p50_seconds == pytest.approx(0.05 + 0.05 * 2 / 3)
    assert two_ago.p95_seconds == pytest.approx(0.25 + 0.25 * 0.8)
    assert sms[1].p50_seconds is None and sms[1].p95_seconds is None
    assert [p.sent for p in series["email"]] == [0, 0, 0, 0, 2]
    assert all(p.sent == 0 for p in series["push"])


async def test_the_workers_count_what_they_send(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    for _ in range(3):
        assert (await herald.notify()).status_code == 202
    await herald.drain()
    reporter = Reporter(herald.runtime.engine, herald.runtime.router, herald.runtime.throughput, MonitorSettings())
    await reporter.publish()

    [email] = [h for h in await herald.runtime.monitor().history() if h.channel == "email"]

    assert len(email.points) == 60
    assert sum(p.sent for p in email.points) == 3
    busy = [p for p in email.points if p.sent]
    assert busy and all(p.p50_seconds is not None and p.p50_seconds < 60 for p in busy)


async def test_old_minutes_are_pruned(runtime: Runtime) -> None:
    old = Throughput(lambda: datetime(2020, 1, 1, 12, 0, tzinfo=UTC))
    old.sent("push", 1.0)
    await Reporter(runtime.engine, runtime.router, old, MonitorSettings()).publish()
    fresh = Throughput()
    fresh.sent("push", 1.0)
    await Reporter(runtime.engine, runtime.router, fresh, MonitorSettings()).publish()  # prunes as it writes
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelMinute)) == 1
