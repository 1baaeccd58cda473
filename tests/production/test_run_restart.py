"""`herald run` on its embedded database: one at a time, and a restart after a crash recovers at once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.production.test_processes import free_port

HERALD = [sys.executable, "-m", "herald.cli.main"]


class Run:
    """One data directory and the `herald run` processes started on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.api, self.sandbox = free_port(), free_port()
        self.env = {
            **os.environ,
            "HERALD_DATA_DIR": str(tmp),
            "HERALD_SECRET_KEY": "restart-test-secret-key",
            "HERALD_API__PORT": str(self.api),
            "HERALD_SANDBOX__HTTP_PORT": str(self.sandbox),
            "HERALD_SANDBOX__SMTP_PORT": str(free_port()),
            # An hour: without the start-up recovery, a lost lease would outlast the test.
            "HERALD_WORKER__LEASE": "3600",
            "HERALD_LOG_LEVEL": "WARNING",
        }
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, **env: str) -> asyncio.subprocess.Process:
        log = (self.tmp / f"run-{len(self.procs)}.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            *HERALD, "run", env={**self.env, **env}, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.tmp / f"run-{n}.log").read_text()

    async def ready(self) -> None:
        """Until the API answers and the start-up banner (with the app's credentials) is
        written: under load the first can come before the second."""
        n = len(self.procs) - 1
        async with httpx.AsyncClient() as c, asyncio.timeout(90):
            while True:
                try:
                    healthy = (await c.get(f"http://127.0.0.1:{self.api}/health")).status_code == 200
                    if healthy and "Herald API" in self.log(n):
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for p in self.procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(p.wait(), 20)
                except TimeoutError:
                    p.kill()
                    await p.wait()


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    r = Run(tmp_path)
    yield r
    await r.stop()


def credentials(log: str) -> tuple[str, str]:
    key = re.search(r"HERALD_APP_KEY=(\S+)", log)
    secret = re.search(r"HERALD_APP_SECRET=(\S+)", log)
    assert key and secret, log
    return key.group(1), secret.group(1)


async def test_a_second_run_on_the_same_database_refuses_to_start(run: Run) -> None:
    await run.start()
    await run.ready()
    second = await run.start(HERALD_API__PORT=str(free_port()), HERALD_SANDBOX__HTTP_PORT=str(free_port()))
    assert await asyncio.wait_for(second.wait(), 60) == 1
    assert "is using" in run.log(1) and "herald.db" in run.log(1)


async def test_a_killed_run_restarts_and_resends_at_once_recording_the_lost_send(run: Run) -> None:
    first = await run.start()
    await run.ready()
    auth = credentials(run.log(0))
    api, sandbox = f"http://127.0.0.1:{run.api}", f"http://127.0.0.1:{run.sandbox}"
    async with httpx.AsyncClient(auth=auth, timeout=30) as c:
        # The mail server hangs: the send is in flight when the process dies.
        assert (await c.put(f"{sandbox}/_sandbox/smtp/faults", json={"latency_ms": 60_000})).status_code == 200
        body: dict[str, Any] = {
            "event_id": "crash-1",
            "recipient": {"email": "ada@example.com"},
            "content": {"email": {"subject": "Hi", "text": "x"}},
        }
        accepted = await c.post(f"{api}/v1/notifications", json=body)
        assert accepted.status_code == 202, accepted.text
        url = f"{api}/v1/notifications/{accepted.json()['id']}"
        async with asyncio.timeout(30):
            while (await c.get(url)).json()["deliveries"][0]["state"] != "sending":
                await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await first.wait()

        await run.start()  # a fresh sandbox with it, without the fault
        await run.ready()
        async with asyncio.timeout(60):  # the lease is an hour: only the recovery gets here
            while (d := (await c.get(url)).json()["deliveries"][0])["state"] != "delivered":
                await asyncio.sleep(0.1)
    outcomes = [(a["outcome"], a["code"]) for a in d["attempt_log"]]
    assert outcomes == [("unknown", "worker_lost"), ("delivered", outcomes[1][1])], d
    assert "recovery: 1 deliveries" in run.log(1)
