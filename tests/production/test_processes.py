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

    async def delivered() -> bool:
        return await count(runtime, Delivery, Delivery.state == DeliveryState.DELIVERED) == 40

    await wait_until(delivered)
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
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        for i in range(10):
            assert (await c.post(f"{url}/v1/notifications", json=notification(f"k{i}"))).status_code == 202

    async def all_held() -> bool:
        return await count(runtime, Delivery, Delivery.state == DeliveryState.SENDING) == 10

    await wait_until(all_held)
    doomed.send_signal(signal.SIGKILL)
    await doomed.wait()
    smtp_sim.faults.reset()
    assert smtp_sim.inbox.entries() == []
    await cluster.start("worker", "--channel", "email", HERALD_WORKER__LEASE="1")

    async def delivered() -> bool:
        return await count(runtime, Delivery, Delivery.state == DeliveryState.DELIVERED) == 10

    await wait_until(delivered)
    assert sorted(smtp_sim.inbox.count_by_key().values()) == [1] * 10


async def test_the_api_publishes_what_it_accepts_without_a_relay(
    cluster: Cluster, runtime: Runtime, smtp_sim: SmtpSimulator
) -> None:
    """The API process publishes after its commit and deletes its outbox rows; the relay is
    only the safety net for a publish that never happened (tests/production/test_outbox.py)."""
    auth = await creds(runtime)
    url = await cluster.api()
    await cluster.start("worker", "--channel", "email")
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        for i in range(5):
            assert (await c.post(f"{url}/v1/notifications", json=notification(f"o{i}"))).status_code == 202

    async def delivered() -> bool:
        return await count(runtime, Delivery, Delivery.state == DeliveryState.DELIVERED) == 5

    await wait_until(delivered)

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
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        for i in range(5):
            assert (await c.post(f"{url}/v1/notifications", json=notification(f"t{i}"))).status_code == 202

    async def all_held() -> bool:
        return await count(runtime, Delivery, Delivery.state == DeliveryState.SENDING) == 5

    await wait_until(all_held)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(worker.wait(), 30) == 0
    assert await count(runtime, Delivery, Delivery.state == DeliveryState.DELIVERED) == 5
    assert sorted(smtp_sim.inbox.count_by_key().values()) == [1] * 5
