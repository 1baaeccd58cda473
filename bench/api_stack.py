"""What the HTTP benches (bench/callbacks.py, bench/tracking_http.py) share: Herald's API alone on
PostgreSQL + Redis, a log of sent deliveries, and load generator processes (bench/http_load.py).

Only the API runs: a callback and a pixel are answered and recorded by the API process itself
(the EventLog with its consumers, the rollups and the outbound webhooks, runs there), so
workers, relay and scheduler would only add idle CPU. The deployment's Twilio account has an
auth token the bench knows, and its SendGrid account the public half of an ECDSA P-256 key
whose private half the bench holds: the bench signs callbacks as the providers would.

The deliveries are inserted straight into the log (notifications and deliveries, as sent:
state `delivered`, outcome `sent`, a provider, an attempt count), one statement per table over
arrays: 100,000 in a few seconds, where sending them through the intake and a worker would
take longer than the whole bench and measure the send path, which has a bench of its own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from bench.cluster import Herald, Postgres, Proc, Redis
from bench.deploy import _delete_prefix
from bench.http_load import dump_requests
from bench.measure import PgBackends, percentiles

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "bench-receipts"


@dataclass
class Stack:
    """A running API with its database, and what the bench needs to sign and to check."""

    herald: Herald
    base_url: str
    database_url: str
    database: str
    app_id: uuid.UUID
    twilio_token: str
    sendgrid_key: ec.EllipticCurvePrivateKey
    secret_key: str
    api: Proc
    postgres: PgBackends
    stops: list[Any] = field(default_factory=list)

    async def stop(self) -> None:
        for stop in reversed(self.stops):
            try:
                await stop()
            except Exception as exc:  # keep stopping the rest; report, never hide
                print(f"[bench] stop step failed: {exc!r}", file=sys.stderr)

    def cpu(self) -> dict[str, float]:
        return {"api": self.api.cpu_seconds(), "postgres": self.postgres.cpu_seconds()}


def _providers(twilio_token: str, public_key: str) -> dict[str, Any]:
    # The base URLs are never called: nothing sends in these benches.
    return {
        "twilio": {
            "base_url": "http://127.0.0.1:9",
            "account_sid": "AC" + "0" * 32,
            "auth_token": twilio_token,
            "from_number": "+15005550006",
            "status_callback_url": "https://herald.example/v1/callbacks/twilio",
        },
        "sendgrid": {
            "base_url": "http://127.0.0.1:9",
            "api_key": "SG.bench",
            "from_email": "bench@herald.example",
            "event_webhook_public_key": public_key,
        },
    }


async def start(workdir: Path, *, env: dict[str, str] | None = None, api_workers: int = 1) -> Stack:
    """A fresh database on the shared PostgreSQL, a prefix on the shared Redis, the API (one
    process unless told; several share one port, as uvicorn's workers do)."""
    pg, redis = Postgres.shared(), Redis.shared()
    tag = uuid.uuid4().hex[:8]
    stops: list[Any] = [pg.stop]
    try:
        url = await pg.create_database(f"bench_http_{tag}")
        prefix = f"bench-{tag}"
        stops.append(lambda: _delete_prefix(redis.url, prefix + ":"))
        twilio_token = secrets.token_hex(16)
        key = ec.generate_private_key(ec.SECP256R1())
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        herald_env = {
            "HERALD_DATABASE_URL": url,
            "HERALD_REDIS_URL": redis.url,
            "HERALD_REDIS__PREFIX": prefix,
            "HERALD_PROVIDERS": json.dumps(_providers(twilio_token, base64.b64encode(der).decode())),
            **(env or {}),
        }
        herald = Herald(workdir / f"herald-{tag}", herald_env)
        stops.append(herald.stop)
        from herald.migrations import upgrade

        await asyncio.to_thread(upgrade, herald.database_url)
        key_id, _ = await herald.create_app()
        app_id = await _app_id(herald.database_url, key_id)
        base_url = await herald.api(workers=api_workers)
    except BaseException:
        for stop in reversed(stops):
            await stop()
        raise
    database = url.rsplit("/", 1)[-1]
    api = next(p for p in herald.procs if p.name == "api")
    secret = herald.env["HERALD_SECRET_KEY"]
    return Stack(herald, base_url, url, database, app_id, twilio_token, key, secret, api, PgBackends(database), stops)


async def _app_id(database_url: str, key_id: str) -> uuid.UUID:
    from sqlalchemy import select

    from herald.apps.models import App
    from herald.kit.db import make_engine

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return uuid.UUID(str((await conn.execute(select(App.id).where(App.key_id == key_id))).scalar_one()))
    finally:
        await engine.dispose()


@dataclass(frozen=True, slots=True)
class Sent:
    """One seeded delivery: what a provider's callback about it carries."""

    id: uuid.UUID
    channel: str
    provider: str
    address: str


async def seed(stack: Stack, channel: str, provider: str, count: int, label: str) -> list[Sent]:
    """`count` deliveries sent through `provider` a few minutes ago, one user and address each."""
    from herald.kit.ids import uuid7

    deliveries = [uuid7() for _ in range(count)]
    notifications = [uuid7() for _ in range(count)]
    at = datetime.now(UTC) - timedelta(minutes=5)
    if channel == "sms":
        addresses = [f"+1555{n:07d}" for n in range(count)]
    else:
        addresses = [f"{label}-{n}@inbox.example" for n in range(count)]
    users = [f"{label}-{n}" for n in range(count)]
    from herald.kit.db import make_engine

    engine = make_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO notifications (id, app_id, event_id, user_id, template, data, category, critical,"
                    " created_at) SELECT n, :app, 'seed-' || n::text, u, :template, '{}', 'orders', false, :at"
                    " FROM unnest(CAST(:ids AS uuid[]), CAST(:users AS text[])) AS s(n, u)"
                ),
                {"app": stack.app_id, "template": TEMPLATE, "at": at, "ids": notifications, "users": users},
            )
            await conn.execute(
                text(
                    "INSERT INTO deliveries (id, app_id, notification_id, channel, state, attempts, unknowns, replays,"
                    " retry_base, available_at, provider, provider_message_id, created_at, updated_at, finished_at,"
                    " outcome, outcome_at)"
                    " SELECT d, :app, n, :channel, 'delivered', 1, 0, 0, 0, :at, :provider, 'pm-' || d::text, :at,"
                    " :at, :at, 'sent', :at"
                    " FROM unnest(CAST(:ids AS uuid[]), CAST(:nids AS uuid[])) AS s(d, n)"
                ),
                {
                    "app": stack.app_id,
                    "channel": channel,
                    "provider": provider,
                    "at": at,
                    "ids": deliveries,
                    "nids": notifications,
                },
            )
        async with engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("ANALYZE notifications"))
            await conn.execute(text("ANALYZE deliveries"))
    finally:
        await engine.dispose()
    return [Sent(d, channel, provider, a) for d, a in zip(deliveries, addresses, strict=True)]


async def scalar_rows(stack: Stack, sql: str) -> list[tuple[Any, ...]]:
    from herald.kit.db import make_engine

    engine = make_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def fold_rollups(stack: Stack) -> int:
    """Fold what the API staged for the analytics rollups, as a worker would (this stack runs
    the API alone); how many staged rows."""
    from herald.analytics.folding import Folder
    from herald.kit.db import make_engine

    engine = make_engine(stack.database_url)
    try:
        return await Folder(engine, interval=0, batch=10_000).once()
    finally:
        await engine.dispose()


# -- the generators --


@dataclass
class Generated:
    """What a set of generator processes sent: every request's row, their CPU, their errors."""

    rows: list[tuple[int, float, float, float, int]]
    errors: dict[str, int]
    cpu_s: float
    wall_s: float


async def generate(
    workdir: Path,
    base_url: str,
    shares: list[list[tuple[str, str, dict[str, str], str]]],
    *,
    duration: float,
    rate: float | None = None,
    concurrency: int = 64,
    name: str = "load",
    start_in: float = 2.0,
    start_at: float | None = None,
) -> tuple[float, list[Proc], asyncio.Future[Generated]]:
    """Start one generator process per share; returns (their common start, epoch s), the
    processes (for their CPU) and a future of their merged result once they are done."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start_at = start_at or time.time() + start_in
    procs, outs = [], []
    for i, share in enumerate(shares):
        reqs, out = workdir / f"{name}-{i}-requests.json", workdir / f"{name}-{i}-out.json"
        dump_requests(reqs, share)
        args = [sys.executable, "-m", "bench.http_load", "--base-url", base_url, "--requests", str(reqs)]
        args += ["--out", str(out), "--start-at", str(start_at), "--duration", str(duration)]
        args += ["--concurrency", str(max(1, concurrency // len(shares)))]
        if rate:
            args += ["--rate", str(rate / len(shares))]
        procs.append(Proc(f"{name}-{i}", args, env, workdir / f"{name}-{i}.log"))
        outs.append(out)
    await asyncio.gather(*(p.start() for p in procs))

    async def done() -> Generated:
        for p in procs:
            await p.wait(duration + max(0.0, start_at - time.time()) + 60)
            p.forget()
        rows: list[tuple[int, float, float, float, int]] = []
        errors: dict[str, int] = {}
        cpu = 0.0
        for i, out in enumerate(outs):
            if not out.exists():
                raise RuntimeError(f"generator {i} wrote nothing; log {procs[i].log}")
            doc = orjson.loads(out.read_bytes())
            offset = sum(len(s) for s in shares[:i])  # indices into the whole list
            rows += [(n + offset, due, sent, done_, status) for n, due, sent, done_, status in doc["rows"]]
            for k, v in doc["errors"].items():
                errors[k] = errors.get(k, 0) + v
            cpu += doc["cpu_s"]
            out.unlink()
        return Generated(rows, errors, cpu, time.time() - start_at)

    return start_at, procs, asyncio.ensure_future(done())


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """Contiguous shares, in order (so each generator sends its part of the story in order)."""
    size = -(-len(items) // parts)
    return [items[i * size : (i + 1) * size] for i in range(parts)]


# What an open loop's measured rate may fall short of the offered one: requests due near the
# window's end are answered after it, so a server that keeps up still measures about 1% less.
OPEN_LOOP_EDGES = 0.98


def window_figures(
    g: Generated, weights: list[int], start: float, end: float, *, ok: tuple[int, ...] = (200,), from_due: bool = False
) -> dict[str, Any]:
    """Requests done within [start, end] s after the generators' start: per second, the events
    they carried (`weights[n]` for request n), and their latency (from the send, or in an open
    loop from when the request was due)."""
    span = max(1e-9, end - start)
    inside = [r for r in g.rows if start <= r[3] <= end]
    good = [r for r in inside if r[4] in ok]
    ms = [(r[3] - (r[1] if from_due else r[2])) * 1000 for r in good]
    statuses: dict[str, int] = {}
    for r in g.rows:
        statuses[str(r[4])] = statuses.get(str(r[4]), 0) + 1
    return {
        "window_s": round(span, 2),
        "requests_per_s": len(good) / span,
        "events_per_s": sum(weights[r[0]] for r in good) / span,
        "latency_ms": percentiles(ms),
        "statuses": statuses,
        "errors": g.errors,
        "sent": len(g.rows),
        "generator_cpu_s": round(g.cpu_s, 2),
        "generator_cores": round(g.cpu_s / max(1e-9, g.wall_s), 2),
    }


async def at(epoch: float) -> None:
    await asyncio.sleep(max(0.0, epoch - time.time()))
