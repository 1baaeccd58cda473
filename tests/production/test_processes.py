"""Many processes on PostgreSQL + Redis: API, workers, relay and scheduler as separate programs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from herald.config import Settings
from herald.kit.db import transaction
from herald.notifications.models import Delivery, DeliveryState, Notification
from herald.queue.models import OutboxEntry
from herald.runtime import Runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.smtp import SmtpSimulator

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

HERALD = [sys.executable, "-m", "herald.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """Herald's processes, started as a deployment would start them."""

    def __init__(self, settings: Settings, smtp_port: int, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "HERALD_DATABASE_URL": settings.effective_database_url(),
            "HERALD_REDIS_URL": settings.redis_url or "",
            "HERALD_REDIS__PREFIX": settings.redis.prefix,
            "HERALD_SECRET_KEY": settings.effective_secret_key().get_secret_value(),
            "HERALD_SMTP__PORT": str(smtp_port),
            "HERALD_DATA_DIR": str(tmp),
            "HERALD_DATABASE_POOL_SIZE": "3",
            "HERALD_LOG_LEVEL": "WARNING",
        }
        self.procs: list[asyncio.subprocess.Process] = []
        self.tmp = tmp

    async def start(self, *args: str, **env: str) -> asyncio.subprocess.Process:
        log = (self.tmp / f"{len(self.procs)}-{args[0]}.log").open("wb")
        proc = await asyncio.create_subprocess_exec(*HERALD, *args, env={**self.env, **env}, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    async def api(self) -> str:
        port = free_port()
        await self.start("api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            for _ in range(600):
                try:
                    if (await c.get(f"{url}/health")).status_code == 200:
                        return url
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        raise AssertionError("API process did not start")

    async def stop(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except TimeoutError:
                p.kill()
                await p.wait()


@pytest.fixture
async def cluster(settings: Settings, smtp_sim: SmtpSimulator, tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(settings, smtp_sim.port, tmp_path)
    yield c
    await c.stop()


async def creds(runtime: Runtime) -> tuple[str, str]:
    from herald.apps.service import create_app

    async with transaction(runtime.sessions) as session:
        c = await create_app(session, "procs", runtime.pepper)
    return c.key, c.secret


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def wait_until(predicate: Any, timeout: float = 90.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.1)


def notification(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "recipient": {"email": "ada@example.com"},
        "content": {"email": {"subject": "Event {{ n }}", "text": "x"}},
        "data": {"n": event_id},
    }


async def accept(url: str, auth: tuple[str, str], prefix: str, n: int) -> None:
    """`n` notifications to one API process, each accepted (202)."""
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        for i in range(n):
            assert (await c.post(f"{url}/v1/notifications", json=notification(f"{prefix}{i}"))).status_code == 202


async def wait_for_state(runtime: Runtime, state: DeliveryState, n: int) -> None:
    """Until `n` deliveries are in `state` in the log."""

    async def reached() -> bool:
        return await count(runtime, Delivery, Delivery.state == state) == n

    await wait_until(reached)


async def test_same_event_to_two_api_processes_makes_one_notification(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    auth = await creds(runtime)
    urls = [await cluster.api(), await cluster.api()]
    for _ in range(2):
        await cluster.start("worker", "--channel", "email")
    await cluster.start("relay")
    await cluster.start("scheduler")
    events = [f"evt-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        answers = await asyncio.gather(
            *(c.post(f"{u}/v1/notifications", json=notification(e)) for e in events for u in urls)
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 40 + [202] * 40  # one of each pair won, the other saw the winner
    assert await count(runtime, Notification) == 40
    assert await count(runtime, Delivery) == 40

    await wait_for_state(runtime, DeliveryState.DELIVERED, 40)
    keys = smtp_sim.inbox.count_by_key()
    assert len(keys) == 40 and set(keys.values()) == {1}


async def test_killed_worker_pending_entries_are_taken_over(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    auth = await creds(runtime)
    url = await cluster.api()
    await cluster.start("relay")
    smtp_sim.faults.configure(FaultSettings(latency_ms=60_000))  # worker A will hang mid-send
    doomed = await cluster.start("worker", "--channel", "email", HERALD_WORKER__LEASE="2")
    await accept(url, auth, "k", 10)
    await wait_for_state(runtime, DeliveryState.SENDING, 10)
    doomed.send_signal(signal.SIGKILL)
    await doomed.wait()
    smtp_sim.faults.reset()
    assert smtp_sim.inbox.entries() == []
    await cluster.start("worker", "--channel", "email", HERALD_WORKER__LEASE="1")

    await wait_for_state(runtime, DeliveryState.DELIVERED, 10)
    assert sorted(smtp_sim.inbox.count_by_key().values()) == [1] * 10


async def test_the_api_publishes_what_it_accepts_without_a_relay(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    """The API process publishes after its commit and deletes its outbox rows; the relay is
    only the safety net for a publish that never happened (tests/production/test_outbox.py)."""
    auth = await creds(runtime)
    url = await cluster.api()
    await cluster.start("worker", "--channel", "email")
    await accept(url, auth, "o", 5)
    await wait_for_state(runtime, DeliveryState.DELIVERED, 5)

    async def swept() -> bool:
        return await count(runtime, OutboxEntry) == 0

    await wait_until(swept)
    assert len(smtp_sim.inbox.entries()) == 5


async def test_sigterm_lets_a_worker_process_finish_its_sends(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    """SIGTERM mid-send: the worker claims nothing more, finishes what it holds, exits 0."""
    auth = await creds(runtime)
    url = await cluster.api()
    await cluster.start("relay")
    smtp_sim.faults.configure(FaultSettings(latency_ms=1500))
    worker = await cluster.start("worker", "--channel", "email")
    await accept(url, auth, "t", 5)
    await wait_for_state(runtime, DeliveryState.SENDING, 5)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(worker.wait(), 30) == 0
    assert await count(runtime, Delivery, Delivery.state == DeliveryState.DELIVERED) == 5
    assert sorted(smtp_sim.inbox.count_by_key().values()) == [1] * 5


async def test_a_worker_process_serves_its_own_metrics(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    """The counters of the send path live in the worker process: without a port of its own
    they could not be scraped at all (the API's /metrics is another process's registry)."""
    auth = await creds(runtime)
    url = await cluster.api()
    port = free_port()
    await cluster.start("worker", "--channel", "email", "--metrics-port", str(port))
    await accept(url, auth, "m", 3)
    await wait_for_state(runtime, DeliveryState.DELIVERED, 3)
    wanted = (
        'herald_deliveries_settled_total{channel="email",state="delivered"} 3.0',
        'herald_attempts_total{outcome="delivered",provider="smtp"} 3.0',
        'herald_accept_to_send_seconds_count{channel="email"} 3.0',
    )
    async with httpx.AsyncClient(timeout=5) as c:
        # The recorder settles in batches: the counters may trail the log by a moment.
        async def scraped() -> bool:
            text = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
            return all(line in text for line in wanted)

        await wait_until(scraped, timeout=10)
