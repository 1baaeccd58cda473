"""The systems under test, started as separate processes: Herald on PostgreSQL + Redis, Herald
embedded on SQLite, and the Celery baseline. Each seeds the same users and the same template.

Users are written straight into each system's database (bulk, in well under a second) rather
than through 2 x M API calls: seeding is not what is measured, and it must fit the one-minute
`make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from bench.cluster import Herald, Postgres, Proc, SandboxProcess, free_port
from bench.drive import TEMPLATE, TEMPLATE_CHANNELS, Person

REPO = Path(__file__).resolve().parent.parent
CHANNELS = ("push", "email", "sms")


@dataclass
class Tuning:
    api_procs: int = 1
    worker_procs: int = 1
    worker_concurrency: int | None = None
    smtp_pool: int = 64
    celery_procs: int = 2
    celery_concurrency: int = 32
    celery_pool: str = "threads"
    celery_prefetch: int = 4


@dataclass
class Deployment:
    """A running system: where to send, how to authenticate, and its processes by type."""

    name: str
    base_url: str
    auth: tuple[str, str]
    procs: dict[str, list[Proc]]
    # Process types whose CPU is the system's own (not the simulators', not the driver's).
    own_kinds: tuple[str, ...]
    # Each channel's worker processes (already counted in `procs`), measured apart so that
    # a channel's CPU per message of its own shows (one SMS costs several pushes).
    by_channel: dict[str, list[Proc]] = field(default_factory=dict)
    # The /metrics of every process that sends (Herald's workers; `herald run` itself), for
    # Herald's own share of the latency: acceptance to the first provider call.
    metrics_urls: list[str] = field(default_factory=list)
    metrics_token: str = ""
    stoppers: list[Any] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    async def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                await stop()
            except Exception as exc:  # keep stopping the rest; report, never hide
                print(f"[bench] {self.name}: stop step failed: {exc!r}", file=sys.stderr)


def sandbox_env(sandbox: SandboxProcess) -> dict[str, str]:
    """The sandbox's HERALD_* variables, with a Twilio status callback URL configured.

    The URL is never called (the benches' sandbox drops its callbacks: `SandboxProcess.start`),
    but with it Herald's key rides in the StatusCallback query, so SMS receipts can be joined
    like every other.
    """
    env = dict(sandbox.env)
    providers = json.loads(env["HERALD_PROVIDERS"])
    providers["twilio"]["status_callback_url"] = f"{sandbox.base_url}/_bench/twilio-status"
    env["HERALD_PROVIDERS"] = json.dumps(providers)
    return env


async def apns_usable(sandbox: SandboxProcess) -> str | None:
    """None if Herald's APNs adapter, on this process's loop (uvloop, as in Herald's workers),
    gets a notification through the simulator; otherwise what went wrong."""
    from herald.providers.apns import ApnsAdapter, ApnsConfig
    from herald.providers.messages import PushMessage

    adapter = ApnsAdapter(ApnsConfig.model_validate(json.loads(sandbox.env["HERALD_PROVIDERS"])["apns"]))
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    # The failure also surfaces as "Fatal error on transport": keep it, but as one line.
    loop.set_exception_handler(lambda _, ctx: seen.append(repr(ctx.get("exception") or ctx.get("message"))))
    try:
        outcome = await asyncio.wait_for(adapter.send(PushMessage(uuid.uuid4().hex, "ios", "ab" * 32, "t", "b")), 15)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc} {seen[:1]}"
    finally:
        await adapter.close()
        loop.set_exception_handler(previous)
    return None if type(outcome).__name__ == "Delivered" else repr(outcome)


async def _delete_prefix(url: str, prefix: str) -> None:
    """Remove our keys from the shared Redis (never a flush); bounded by SCAN count."""
    client = aioredis.Redis.from_url(url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


async def _migrate(herald: Herald) -> None:
    """`herald migrate`, in this process (a thread: Alembic runs its own loop): a fresh
    interpreter would spend seconds of CPU importing Herald just to run it."""
    from herald.migrations import upgrade

    await asyncio.to_thread(upgrade, herald.database_url)


async def _seed_herald(database_url: str, app_key: str, people: list[Person]) -> None:
    from sqlalchemy import insert, select

    from herald.apps.models import App
    from herald.kit.db import make_engine, make_sessionmaker, transaction
    from herald.kit.ids import uuid7
    from herald.recipients.models import Device, User

    engine = make_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            app_id = await s.scalar(select(App.id).where(App.key_id == app_key))
            user_rows = [
                {"app_id": app_id, "user_id": p.user_id, "name": p.name, "email": p.email, "phone": p.phone}
                | {"locale": "en", "attributes": {}, "created_at": now, "updated_at": now}
                for p in people
            ]
            device_rows = [
                {"id": uuid7(), "app_id": app_id, "user_id": p.user_id, "platform": p.platform, "token": p.token}
                | {"active": True, "last_seen": now, "created_at": now}
                for p in people
            ]
            for chunk in range(0, len(people), 2000):
                await s.execute(insert(User), user_rows[chunk : chunk + 2000])
                await s.execute(insert(Device), device_rows[chunk : chunk + 2000])
    finally:
        await engine.dispose()


async def _put_template(base_url: str, auth: tuple[str, str]) -> None:
    async with httpx.AsyncClient(auth=auth, timeout=30) as client:
        resp = await client.put(f"{base_url}/v1/templates/{TEMPLATE}", json={"channels": TEMPLATE_CHANNELS})
        resp.raise_for_status()


def _herald_env(sandbox: SandboxProcess, t: Tuning, extra: dict[str, str]) -> dict[str, str]:
    env = {**sandbox_env(sandbox), "HERALD_SMTP__POOL_SIZE": str(t.smtp_pool), **extra}
    if t.worker_concurrency:
        env["HERALD_WORKER__CONCURRENCY"] = str(t.worker_concurrency)
    return env


async def herald_postgres(
    workdir: Path,
    pg: Postgres,
    redis_url: str,
    sandbox: SandboxProcess,
    people: list[Person],
    t: Tuning,
    channels: tuple[str, ...] = CHANNELS,
    extra_env: dict[str, str] | None = None,
) -> Deployment:
    """Herald's production shape: API, one worker per channel (x N), relay and scheduler.
    `extra_env`: settings of a bench's own (tracking off, a provider route...), over the rest."""
    tag = uuid.uuid4().hex[:8]
    url = await pg.create_database(f"bench_herald_{tag}")
    prefix = f"bench-{tag}"
    env = _herald_env(sandbox, t, {"HERALD_DATABASE_URL": url, "HERALD_REDIS_URL": redis_url, **(extra_env or {})})
    env["HERALD_REDIS__PREFIX"] = prefix
    herald = Herald(workdir / f"herald-pg-{tag}", env)
    dep = Deployment("herald-pg", "", ("", ""), {}, ("api", "worker", "relay", "scheduler"))
    dep.stoppers += [lambda: _delete_prefix(redis_url, prefix + ":"), herald.stop]
    try:
        await _migrate(herald)
        dep.auth = await herald.create_app()
        await _seed_herald(herald.database_url, dep.auth[0], people)
        workers = [herald.worker(c, concurrency=t.worker_concurrency) for c in channels for _ in range(t.worker_procs)]
        started = await asyncio.gather(herald.api(workers=t.api_procs), herald.relay(), herald.scheduler(), *workers)
    except BaseException:
        await dep.stop()
        raise
    dep.base_url = str(started[0])
    by_name = {p.name: p for p in herald.procs}
    dep.procs = {
        "api": [p for p in herald.procs if p.name == "api"],
        "worker": [p for p in herald.procs if p.name.startswith("worker-")],
        "relay": [by_name["relay"]],
        "scheduler": [by_name["scheduler"]],
    }
    dep.by_channel = {c: [p for p in herald.procs if p.name == f"worker-{c}"] for c in channels}
    dep.metrics_urls = [p.metrics_url for p in herald.procs if p.metrics_url]
    dep.settings = {"database": url.rsplit("/", 1)[-1], "redis_prefix": prefix, "env": _public_env(env)}
    await _put_template(dep.base_url, dep.auth)
    return dep


async def herald_sqlite(workdir: Path, sandbox: SandboxProcess, people: list[Person], t: Tuning) -> Deployment:
    """The embedded default: `herald run`, one process on SQLite (the sandbox stays external)."""
    tag = uuid.uuid4().hex[:8]
    env = _herald_env(sandbox, t, {})
    herald = Herald(workdir / f"herald-sqlite-{tag}", env)
    dep = Deployment("herald-sqlite", "", ("", ""), {}, ("run",))
    dep.stoppers.append(herald.stop)
    try:
        await _migrate(herald)
        dep.auth = await herald.create_app()
        await _seed_herald(herald.database_url, dep.auth[0], people)
        dep.base_url = await herald.all_in_one()
    except BaseException:
        await dep.stop()
        raise
    dep.procs = {"run": list(herald.procs)}
    dep.metrics_urls = [f"{dep.base_url}/metrics"]
    dep.metrics_token = herald.env["HERALD_METRICS__TOKEN"]
    dep.settings = {"database": herald.database_url, "env": _public_env(env)}
    await _put_template(dep.base_url, dep.auth)
    return dep


def _public_env(env: dict[str, str]) -> dict[str, str]:
    """The tuning knobs worth recording, without credentials."""
    hidden = ("PROVIDERS", "SECRET", "PASSWORD", "TOKEN")
    return {k: v for k, v in env.items() if k.startswith(("HERALD_", "BASELINE_")) and not any(h in k for h in hidden)}


def _seed_celery(sync_url: str, people: list[Person]) -> None:
    from sqlalchemy import create_engine, insert

    from bench.baseline_celery.app import devices, metadata, templates, users

    engine = create_engine(sync_url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                insert(users),
                [
                    {"user_id": p.user_id, "name": p.name, "email": p.email, "phone": p.phone, "locale": "en"}
                    for p in people
                ],
            )
            conn.execute(
                insert(devices),
                [{"id": uuid.uuid4(), "user_id": p.user_id, "platform": p.platform, "token": p.token} for p in people],
            )
            conn.execute(insert(templates), [{"key": TEMPLATE, "content": TEMPLATE_CHANNELS}])
    finally:
        engine.dispose()


async def _celery_ready(files: list[Path], procs: list[Proc], timeout: float = 60.0) -> None:
    """Each worker writes its ready file from Celery's `worker_ready` signal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(f.exists() for f in files):
        dead = [p for p in procs if not p.alive()]
        if dead or loop.time() > deadline:
            raise RuntimeError(f"celery worker not ready; log {procs[0].log}")
        await asyncio.sleep(0.1)


async def celery_baseline(
    workdir: Path, pg: Postgres, redis_url: str, sandbox: SandboxProcess, people: list[Person], t: Tuning
) -> Deployment:
    """FastAPI + Celery (Redis broker) + PostgreSQL: the pipeline a competent team would write."""
    tag = uuid.uuid4().hex[:8]
    home = workdir / f"celery-{tag}"
    home.mkdir(parents=True, exist_ok=True)
    url = (await pg.create_database(f"bench_celery_{tag}")).replace("+asyncpg", "+psycopg", 1)
    await asyncio.to_thread(_seed_celery, url, people)
    herald_env = sandbox_env(sandbox)
    prefix = f"bench-celery-{tag}:"
    key, secret = f"bk_{tag}", uuid.uuid4().hex
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "BASELINE_"))},
        "PYTHONPATH": str(REPO),
        "BASELINE_DATABASE_URL": url,
        "BASELINE_BROKER_URL": redis_url,
        "BASELINE_PREFIX": prefix,
        "BASELINE_PROVIDERS": herald_env["HERALD_PROVIDERS"],
        "BASELINE_SMTP": f"{herald_env['HERALD_SMTP__HOST']}:{herald_env['HERALD_SMTP__PORT']}",
        "BASELINE_API_KEY": key,
        "BASELINE_API_SECRET": secret,
        # The shared server allows 100 connections: (pool + overflow) x processes stays near 50.
        "BASELINE_DB_POOL": str(max(4, t.celery_concurrency // 4)),
        "BASELINE_HTTP_POOL": str(t.celery_concurrency),
        "BASELINE_PREFETCH": str(t.celery_prefetch),
    }
    port = free_port()
    api_args = [sys.executable, "-m", "uvicorn", "bench.baseline_celery.api:app", "--host", "127.0.0.1"]
    api_args += ["--port", str(port), "--workers", str(t.api_procs), "--loop", "uvloop", "--http", "httptools"]
    api_args += ["--no-access-log", "--log-level", "warning"]
    api = Proc("celery-api", api_args, env, home / "api.log", ready_url=f"http://127.0.0.1:{port}/health")
    workers, ready = [], []
    for i in range(t.celery_procs):
        ready_file = home / f"ready-{i}"
        args = [sys.executable, "-m", "celery", "-A", "bench.baseline_celery.app", "worker", "-n", f"w{i}@{tag}"]
        args += ["--pool", t.celery_pool, "--concurrency", str(t.celery_concurrency), "--loglevel", "WARNING"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", "deliveries"]
        workers.append(Proc("celery-worker", args, {**env, "BASELINE_READY_FILE": str(ready_file)}, home / f"w{i}.log"))
        ready.append(ready_file)
    dep = Deployment(
        "celery", f"http://127.0.0.1:{port}", (key, secret), {"api": [api], "worker": workers}, ("api", "worker")
    )
    dep.stoppers.append(lambda: _delete_prefix(redis_url, prefix))
    dep.stoppers += [p.terminate for p in [api, *workers]]
    try:
        await asyncio.gather(api.start(), *(w.start() for w in workers))
        await _celery_ready(ready, workers)
    except BaseException:
        await dep.stop()
        raise
    dep.settings = {"database": url.rsplit("/", 1)[-1], "env": _public_env(env), "pool": t.celery_pool}
    dep.settings |= {"concurrency": t.celery_concurrency, "procs": t.celery_procs, "prefetch": t.celery_prefetch}
    return dep
