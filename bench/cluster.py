"""Herald and its engines as real OS processes, for the chaos run and the benchmark.

Both programs must measure what a deployment would run: separate `herald` processes against a
real PostgreSQL, Redis and the provider sandbox. Everything listens on loopback only, every
wait is bounded, and every process started here dies on `stop()` or, failing that, when the
interpreter exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from bench.engines import Postgres, Redis, missing_engines
from bench.procs import Proc, free_port, tail

HERALD_CMD = [sys.executable, "-m", "herald.cli.main"]
# One message the sandbox accepted: (seq, Herald's key, provider, received_at, arrived_at);
# received once the injected latency has passed, arrived before it (the provider has it).
Receipt = tuple[int, str | None, str, float, float]

__all__ = [
    "HERALD_CMD",
    "Herald",
    "Postgres",
    "Proc",
    "Receipt",
    "Redis",
    "SandboxProcess",
    "free_port",
    "missing_engines",
]


class SandboxProcess:
    """`herald sandbox serve` on free ports: every provider simulator in its own process."""

    def __init__(self, proc: Proc, base_url: str, env: dict[str, str]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.base_url = base_url
        self.env = env
        self._client = httpx.AsyncClient(base_url=base_url, timeout=120.0)

    @classmethod
    async def start(
        cls,
        workdir: Path,
        *,
        latency_ms: float = 0.0,
        vonage_rate_limit: bool = False,
        callbacks: bool = False,
        callbacks_to: str | None = None,
    ) -> SandboxProcess:
        """`callbacks`: whether the simulators post receipts. Off, Twilio drops the status
        callbacks it would post to the StatusCallback URL the benches set only to carry
        Herald's key: the delivery figures measure sends, and receipts have a bench of their
        own (as before the simulators called back, so the figures compare). `callbacks_to`:
        Herald's base URL (known before Herald starts), which the env file then points every
        calling-back simulator at, with the secrets that verify them (`herald run`'s wiring)."""
        workdir.mkdir(parents=True, exist_ok=True)
        http, smtp, apns = free_port(), free_port(), free_port()
        env_file = workdir / f"sandbox-env-{http}.json"
        args = [*HERALD_CMD, "sandbox", "serve", "--host", "127.0.0.1", "--http-port", str(http)]
        args += ["--smtp-port", str(smtp), "--apns-port", str(apns), "--env-file", str(env_file)]
        args += ["--latency-ms", str(latency_ms)]
        args.append("--vonage-rate-limit" if vonage_rate_limit else "--no-vonage-rate-limit")
        if callbacks_to:
            args += ["--callbacks-to", callbacks_to]
        base_url = f"http://127.0.0.1:{http}"
        proc = Proc("sandbox", args, _clean_env(), workdir / f"sandbox-{http}.log")
        await proc.start()
        await proc.wait_ready(f"{base_url}/_sandbox/health")
        for _ in range(100):
            if env_file.exists() and env_file.stat().st_size > 0:
                break
            await asyncio.sleep(0.05)
        env: dict[str, str] = json.loads(env_file.read_text())
        started = cls(proc, base_url, env)
        if not callbacks:
            for sim in ("twilio", "vonage", "sendgrid", "mailchimp"):
                await started.set_callbacks(sim, {"drop_rate": 1.0})
        return started

    async def set_callbacks(self, sim: str, settings: dict[str, Any]) -> None:
        """PUT /_sandbox/{sim}/callbacks: how that simulator's receipts travel (delay, duplicates...)."""
        (await self._client.put(f"/_sandbox/{sim}/callbacks", json=settings)).raise_for_status()

    async def set_faults(self, sim: str, settings: dict[str, Any]) -> None:
        """PUT /_sandbox/{sim}/faults: replaces that simulator's whole fault settings."""
        (await self._client.put(f"/_sandbox/{sim}/faults", json=settings)).raise_for_status()

    async def summary(self) -> dict[str, list[int]]:
        """Per Herald key: [messages received, messages visible after the collapse rules]."""
        resp = await self._client.get("/_sandbox/inbox/summary")
        resp.raise_for_status()
        keys: dict[str, list[int]] = resp.json()["keys"]
        return keys

    async def timestamps(self, since: int = 0) -> list[Receipt]:
        """(seq, key, provider, received_at, arrived_at) of every inbox entry after `since`."""
        resp = await self._client.get("/_sandbox/inbox/timestamps", params={"since": since})
        resp.raise_for_status()
        return [(int(r[0]), r[1], str(r[2]), float(r[3]), float(r[4])) for r in resp.json()["rows"]]

    async def stop(self) -> None:
        await self._client.aclose()
        await self.proc.terminate(signal.SIGTERM, timeout=10)


def _clean_env() -> dict[str, str]:
    """This process's environment without any HERALD_* variable that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}


class Herald:
    """Herald's processes for one deployment (env = database, redis, sandbox, secret...)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        (workdir / "logs").mkdir(parents=True, exist_ok=True)
        defaults = {
            "HERALD_SECRET_KEY": secrets.token_urlsafe(32),
            # The API's /metrics answers only with it (`herald run` on SQLite is scraped there).
            "HERALD_METRICS__TOKEN": secrets.token_urlsafe(16),
            "HERALD_DATA_DIR": str(workdir),
            "HERALD_LOG_LEVEL": "WARNING",
        }
        self.env: dict[str, str] = {**_clean_env(), **defaults, **env}
        self.procs: list[Proc] = []
        self._count = 0

    @property
    def database_url(self) -> str:
        url = self.env.get("HERALD_DATABASE_URL")
        return url or f"sqlite+aiosqlite:///{Path(self.env['HERALD_DATA_DIR']).resolve() / 'herald.db'}"

    async def _start(self, name: str, args: list[str], *, ready: str | None = None, **env: str) -> Proc:
        self._count += 1
        log = self.workdir / "logs" / f"{self._count:03d}-{name}.log"
        proc = Proc(name, [*HERALD_CMD, *args], {**self.env, **env}, log, ready_url=ready)
        self.procs.append(proc)
        await proc.start()
        return proc

    async def migrate(self) -> None:
        proc = await self._start("migrate", ["migrate"])
        if not await proc.wait(180):
            await proc.terminate(signal.SIGKILL)
            raise RuntimeError(f"herald migrate timed out; log {proc.log}")
        self.procs.remove(proc)
        proc.forget()
        if proc.returncode != 0:
            raise RuntimeError(f"herald migrate failed; log {proc.log}:\n{tail(proc.log)}")

    async def create_app(self, name: str = "bench") -> tuple[str, str]:
        """A client app created straight in the database; returns (key, secret)."""
        from herald.apps.service import create_app
        from herald.kit.db import make_engine, make_sessionmaker, transaction

        engine = make_engine(self.database_url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                creds = await create_app(session, name, self.env["HERALD_SECRET_KEY"])
        finally:
            await engine.dispose()
        return creds.key, creds.secret

    async def api(self, *, workers: int = 1, port: int | None = None) -> str:
        """`herald api` on `port` (default a free one); returns its base URL once /health answers."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        args = ["api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        await self._start("api", args, ready=f"{url}/health")
        return url

    async def worker(self, channel: str, *, concurrency: int | None = None) -> Proc:
        port = free_port()
        args = ["worker", "--channel", channel, "--metrics-port", str(port)]
        if concurrency is not None:
            args += ["--concurrency", str(concurrency)]
        proc = await self._start(f"worker-{channel}", args)
        proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
        return proc

    async def relay(self) -> Proc:
        return await self._start("relay", ["relay"])

    async def scheduler(self) -> Proc:
        return await self._start("scheduler", ["scheduler"])

    async def all_in_one(self, *, port: int | None = None) -> str:
        """`herald run` (API, workers, scheduler in one process) on `port` (default a free
        one); returns the API URL."""
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"HERALD_API__HOST": "127.0.0.1", "HERALD_API__PORT": str(port)}
        await self._start("run", ["run"], ready=f"{url}/health", **env)
        return url

    async def restart(self, proc: Proc, sig: int = signal.SIGKILL) -> Proc:
        """Kill `proc` with `sig`, wait for it, and start the same command again."""
        await proc.terminate(sig, timeout=15)
        fresh = Proc(proc.name, proc.args, proc.env, proc.log, ready_url=proc.ready_url)
        fresh.metrics_url = proc.metrics_url  # the same command: the same port
        self.procs[self.procs.index(proc)] = fresh
        await fresh.start()
        return fresh

    async def stop(self) -> None:
        """SIGTERM every process (they drain), then SIGKILL whatever is left after a timeout."""
        await asyncio.gather(*(p.terminate(signal.SIGTERM, timeout=20) for p in self.procs))
        self.procs.clear()
