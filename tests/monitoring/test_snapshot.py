"""The queue snapshot on each backend: the log's states, the queue's lag, the gauges."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import ClauseElement, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from herald.config import MonitorSettings
from herald.kit import metrics
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.monitoring import repository
from herald.monitoring.sampler import sample_once
from herald.monitoring.schemas import QueueStats
from herald.notifications.models import DeliveryState
from herald.queue.transport import transport_of
from herald.runtime import Runtime
from tests.monitoring.seeding import seed


def _email(stats: tuple[QueueStats, ...]) -> QueueStats:
    return next(q for q in stats if q.channel == "email")


async def test_each_state_is_counted_per_channel_with_the_oldest_ready_age(runtime: Runtime) -> None:
    await seed(runtime, Channel.EMAIL)
    await seed(runtime, Channel.SMS, [(DeliveryState.QUEUED, -30), (DeliveryState.DEAD, -1)], app="other")

    snap = await runtime.monitor().snapshot()

    email = _email(snap.queues)
    assert (email.ready, email.retrying, email.scheduled, email.in_flight, email.dead) == (3, 2, 1, 2, 1)
    assert 120 <= email.oldest_ready_age_seconds < 600
    sms = next(q for q in snap.queues if q.channel == "sms")
    assert (sms.ready, sms.retrying, sms.scheduled, sms.in_flight, sms.dead) == (1, 0, 0, 0, 1)
    assert 30 <= sms.oldest_ready_age_seconds < 600
    push = next(q for q in snap.queues if q.channel == "push")
    assert (push.ready, push.in_flight, push.dead, push.oldest_ready_age_seconds) == (0, 0, 0, 0.0)
    assert {q.channel for q in snap.queues} == {c.value for c in Channel.all()}


async def test_lag_and_pending_come_from_the_queue(runtime: Runtime) -> None:
    ids = await seed(runtime, Channel.EMAIL)
    monitor = runtime.monitor()
    transport = transport_of(runtime.broker)
    if transport is None:
        # The log is the queue: what no worker has claimed is the ready rows, the leased are pending.
        email = _email((await monitor.snapshot()).queues)
        assert monitor.backend == "embedded"
        assert (email.consumer_lag, email.pending) == (3, 2)
        return
    assert monitor.backend == "redis"
    assert (
        _email((await monitor.snapshot()).queues).consumer_lag,
        _email((await monitor.snapshot()).queues).pending,
    ) == (0, 0)
    await transport.publish({Channel.EMAIL: ids[DeliveryState.QUEUED]})
    assert _email((await monitor.snapshot()).queues).consumer_lag == 5
    entries = await transport.receive(Channel.EMAIL, "reader", 2, timedelta(seconds=60))
    assert len(entries) == 2
    email = _email((await monitor.snapshot()).queues)
    assert (email.consumer_lag, email.pending) == (3, 2)
    await transport.ack(Channel.EMAIL, [entries[0].receipt])
    await transport.delay(Channel.EMAIL, [(ids[DeliveryState.QUEUED][3], utcnow() + timedelta(hours=1))])
    depth = await transport.depth(Channel.EMAIL)
    assert (depth.lag, depth.pending, depth.delayed) == (3, 1, 1)


async def test_the_gauges_show_a_sample_on_metrics(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await seed(runtime, Channel.EMAIL)
    token = "t" * 24
    runtime.settings.metrics.token = SecretStr(token)
    monitor = runtime.monitor()

    await sample_once(monitor)
    body = (await client.get("/metrics", headers={"authorization": f"Bearer {token}"}, auth=None)).text

    labels = f'{{backend="{monitor.backend}",channel="email"}}'
    for name, value in [
        ("herald_queue_ready", 3),
        ("herald_queue_retrying", 2),
        ("herald_queue_scheduled", 1),
        ("herald_queue_in_flight", 2),
        ("herald_queue_dead", 1),
        ("herald_queue_consumer_lag", 3 if monitor.backend == "embedded" else 0),
    ]:
        assert f"{name}{labels} {float(value)}" in body, name
    assert f"herald_queue_oldest_ready_age_seconds{labels} 1" in body  # 120-something seconds
    assert "herald_queue_sampled_timestamp_seconds " in body


async def test_apps_cannot_read_the_deployment_wide_figures(runtime: Runtime, client: httpx.AsyncClient) -> None:
    """Queue depth is every app's traffic together: operator data, behind the metrics token
    and the CLI, never on an app's credentials."""
    await seed(runtime, Channel.EMAIL)
    runtime.settings.metrics.token = SecretStr("s" * 24)
    await sample_once(runtime.monitor())
    assert (await client.get("/metrics")).status_code == 401  # the app's own Basic credentials
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if "queue" in p or "monitor" in p or "status" in p]


async def _plan(session: AsyncSession, stmt: ClauseElement) -> str:
    """The backend's plan for a statement; on PostgreSQL with sequential scans priced out, so
    it uses an index if one can serve it at all."""
    conn = await session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    assert isinstance(compiled, SQLCompiler)
    params = tuple(compiled.params[k] for k in compiled.positiontup or [])
    if conn.dialect.name == "sqlite":
        steps = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)).all()
        return "\n".join(str(step[-1]) for step in steps)  # id, parent, notused, detail
    await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = (await conn.exec_driver_sql(f"EXPLAIN {compiled}", params)).all()
    return "\n".join(r[0] for r in rows)


async def test_the_counts_read_indexes_never_the_history(runtime: Runtime) -> None:
    """PostgreSQL's counts read the partial indexes of the states they count. SQLite's claim
    index holds every row, so it serves all three, dead letters included (SQLite has no dead
    letters' index of its own: migration 0018)."""
    postgres = runtime.engine.dialect.name == "postgresql"
    indexes = (
        ["ix_deliveries_claim", "ix_deliveries_lease", "ix_deliveries_dead"]
        if postgres
        else ["ix_deliveries_claim"] * 3
    )
    async with runtime.sessions() as session:
        statements = [
            repository.waiting(utcnow()),
            repository.in_state(DeliveryState.SENDING),
            repository.in_state(DeliveryState.DEAD),
        ]
        for stmt, index in zip(statements, indexes, strict=True):
            plan = await _plan(session, stmt)
            assert "Seq Scan" not in plan and "SCAN deliveries" not in plan, plan
            assert index in plan, plan
        if postgres:
            await session.execute(text("RESET enable_seqscan"))


async def test_the_api_samples_in_the_background_only_where_it_serves_metrics(runtime: Runtime) -> None:
    await seed(runtime, Channel.EMAIL)
    stop = asyncio.Event()
    runtime.settings.metrics.token = None
    await asyncio.wait_for(runtime.sample_queues(stop), 5)  # no /metrics here: nothing to sample for

    runtime.settings.metrics.token = SecretStr("m" * 24)
    runtime.settings.monitor = MonitorSettings(sample_interval=timedelta(milliseconds=20))
    labels = {"channel": "email", "backend": runtime.monitor().backend}
    metrics.QUEUE_READY.labels(**labels).set(-1)
    sampling = asyncio.create_task(runtime.sample_queues(stop))
    try:
        async with asyncio.timeout(20):
            while REGISTRY.get_sample_value("herald_queue_ready", labels) != 3:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await sampling
