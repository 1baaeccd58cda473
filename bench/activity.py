"""`python -m bench.activity`: the console's Activity reads over a log of a million notifications,
on PostgreSQL (issue 23: "console pages answer in <= 100 ms p95 with a log of 1M notifications").

1. fill (or reuse): a database of N notifications over D days across 5 apps of unequal size
   (45/25/15/10/5 %), ~20,000 users per app (a few very active), 40 templates (a few
   common, most rare), categories, 1-3 deliveries each over 4 channels and 10 providers in
   realistic states (the last hour still in flight), their attempts (retries, dead letters),
   provider receipts, opens and clicks. Written server-side (generate_series, INSERT ...
   SELECT), in time order as a real log is, then VACUUM ANALYZE. The database is kept and
   reused while its key (the data's version, N, D and the migrations' text) is the same;
2. queries: each of the service calls the routes make (SQL and the answer's assembly, not
   HTTP) in a unit of work, `repeat` times after a warm-up, on the largest app (and the
   smallest where said): the search by each filter alone and the common combinations
   (first page, and a deep page: the cursor 45 days back), a notification's timeline (with
   its content rendered), and an export's first page as CSV: p50/p95 per query in ms, and
   the plan of each (EXPLAIN ANALYZE: its scans and the rows they read).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.measure import percentiles
from bench.plans import Run, explained
from bench.report import run_bench
from bench.run import header
from herald.activity import export
from herald.activity import service as activity
from herald.apps.service import create_app
from herald.kit.db import make_engine, make_sessionmaker, transaction
from herald.kit.uow import UnitOfWork, unit_of_work
from herald.migrations import HERE as MIGRATIONS
from herald.migrations import upgrade
from herald.notifications import repository as log
from herald.notifications import service as notifications
from herald.notifications.search import Search, id_floor

REPO = Path(__file__).resolve().parent.parent
DATA_VERSION = 1
TARGET_MS = 100.0
APP_SHARES = (45, 25, 15, 10, 5)
TEMPLATE_BODY = {
    "channels": {
        "email": {"subject": "Order {{ order_id }}", "text": "Hi {{ user.name }}, order {{ order_id }} shipped."},
        "sms": {"text": "Order {{ order_id }} shipped"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }}"},
        "in_app": {"title": "Shipped", "body": "Order {{ order_id }}"},
    }
}


@dataclass
class Options:
    notifications: int = 1_000_000
    days: int = 90
    repeat: int = 30
    rebuild: bool = False
    build_only: bool = False
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.activity", description=__doc__)
    p.add_argument("--notifications", type=int, default=1_000_000, help="notifications in the log")
    p.add_argument("--days", type=int, default=90, help="days the log spans, up to now")
    p.add_argument("--repeat", type=int, default=30, help="timed runs of each query")
    p.add_argument("--rebuild", action="store_true", help="build the database again even if one matches")
    p.add_argument(
        "--build-only", action="store_true", help="build (or find) the database and stop: under the shared lock"
    )
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="the server to use")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(a.notifications, a.days, a.repeat, a.rebuild, a.build_only, a.pg, a.results)


def database_name(o: Options) -> str:
    """Keyed by everything the content depends on: a changed migration or fill builds anew."""
    digest = hashlib.sha256(f"{DATA_VERSION}:{o.notifications}:{o.days}".encode())
    for sql in (_NOTIFICATIONS, _DELIVERIES, _ATTEMPTS, _EVENTS, _ENGAGEMENTS):
        digest.update(sql.encode())
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return f"bench_activity_{digest.hexdigest()[:12]}"


# One statement per table, each row's choices drawn from random() (seeded: the same log
# every build). A notification's id is a uuid7 of its created_at, as the intake makes it.
_NOTIFICATIONS = """
INSERT INTO notifications (id, app_id, event_id, user_id, recipient, template, data, content, category,
                           critical, send_at, created_at)
SELECT
    CAST(lpad(to_hex(ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15) AS uuid),
    (CAST(:apps AS uuid[]))[a], 'evt-' || g,
    CASE WHEN ru < 0.03 THEN NULL ELSE 'user-' || floor(power((ru - 0.03) / 0.97, 2) * 20000)::int END,
    CASE WHEN ru < 0.03 THEN jsonb_build_object('email', 'guest' || g || '@example.com') END,
    CASE WHEN rt < 0.05 THEN NULL ELSE 'template-' || floor(rt * rt * 40)::int END,
    jsonb_build_object('order_id', g),
    CASE WHEN rt < 0.05 THEN '{"email": {"subject": "Hello", "text": "Inline"}}'::jsonb END,
    CASE WHEN rc < 0.35 THEN 'orders' WHEN rc < 0.60 THEN 'marketing' WHEN rc < 0.75 THEN 'security'
         WHEN rc < 0.85 THEN 'billing' WHEN rc < 0.90 THEN 'social' WHEN rc < 0.901 THEN 'legal' END,
    rc > 0.999, NULL, to_timestamp(ms / 1000.0)
FROM (
    SELECT g, CAST(:start_ms AS bigint) + g * CAST(:step_ms AS bigint) AS ms, md5(g::text) AS h,
           random() AS ra, random() AS ru, random() AS rt, random() AS rc
    FROM generate_series(1, CAST(:n AS integer)) AS g
) AS s, LATERAL (
    SELECT CASE WHEN ra < 0.45 THEN 1 WHEN ra < 0.70 THEN 2 WHEN ra < 0.85 THEN 3 WHEN ra < 0.95 THEN 4 ELSE 5 END
) AS x(a)
"""

# Channel sets by share: email 50%, email+sms 20%, push 15%, email+push 8%, sms 4%, in_app+email 3%.
_DELIVERIES = """
INSERT INTO deliveries (id, app_id, notification_id, channel, device_id, platform, address, state, reason, attempts,
                        unknowns, replays, retry_base, replayed_at, available_at, lease_owner, lease_until, provider,
                        provider_message_id, created_at, updated_at, finished_at, outcome, outcome_code, outcome_at)
SELECT
    CAST(left(replace(CAST(n.id AS text), '-', ''), 20) || lpad(to_hex(k), 2, '0')
         || substr(md5(n.event_id || k), 1, 10) AS uuid),
    n.app_id, n.id, c, NULL, CASE WHEN c = 'push' THEN 'android' END, NULL, st,
    CASE st WHEN 'skipped' THEN 'opted_out' WHEN 'failed' THEN 'invalid_address' WHEN 'dead' THEN 'max_attempts' END,
    CASE WHEN st = 'skipped' OR st IN ('queued', 'scheduled') THEN 0 WHEN st = 'dead' THEN 5
         WHEN r2 < 0.1 THEN 2 ELSE 1 END,
    0, 0, 0, NULL, n.created_at, NULL, NULL,
    CASE WHEN st IN ('skipped', 'queued', 'scheduled') THEN NULL
         WHEN c = 'email' THEN CASE WHEN r2 < 0.6 THEN 'smtp' ELSE 'sendgrid' END
         WHEN c = 'sms' THEN CASE WHEN r2 < 0.7 THEN 'twilio' ELSE 'vonage' END
         WHEN c = 'push' THEN CASE WHEN r2 < 0.55 THEN 'fcm' WHEN r2 < 0.95 THEN 'apns' ELSE 'webpush' END
         ELSE 'in_app' END,
    CASE WHEN st = 'delivered' THEN md5(n.event_id || c) END,
    n.created_at, n.created_at + interval '2 seconds',
    CASE WHEN st IN ('delivered', 'failed', 'dead', 'skipped') THEN n.created_at + interval '1 second' END,
    CASE WHEN st = 'delivered' AND c IN ('email', 'sms') THEN
        CASE WHEN r3 < 0.75 THEN 'delivered'
             WHEN r3 < 0.78 THEN CASE c WHEN 'email' THEN 'bounced' ELSE 'undelivered' END
        END END,
    NULL,
    CASE WHEN st = 'delivered' AND c IN ('email', 'sms') AND r3 < 0.78 THEN n.created_at + interval '30 seconds' END
FROM (
    SELECT n.*, c, k, random() AS r1, random() AS r2, random() AS r3
    FROM notifications AS n
    CROSS JOIN LATERAL (SELECT get_byte(uuid_send(n.id), 15) / 256.0) AS p(pick)
    CROSS JOIN LATERAL unnest(
        CASE WHEN pick < 0.50 THEN ARRAY['email'] WHEN pick < 0.70 THEN ARRAY['email', 'sms']
             WHEN pick < 0.85 THEN ARRAY['push'] WHEN pick < 0.93 THEN ARRAY['email', 'push']
             WHEN pick < 0.97 THEN ARRAY['sms'] ELSE ARRAY['in_app', 'email'] END
    ) WITH ORDINALITY AS ch(c, k)
) AS n
CROSS JOIN LATERAL (
    SELECT CASE WHEN n.created_at > CAST(:recent AS timestamptz) THEN
               CASE WHEN r1 < 0.5 THEN 'delivered' WHEN r1 < 0.8 THEN 'queued' WHEN r1 < 0.9 THEN 'sending'
                    ELSE 'scheduled' END
           WHEN r1 < 0.86 THEN 'delivered' WHEN r1 < 0.91 THEN 'failed' WHEN r1 < 0.92 THEN 'dead'
           ELSE 'skipped' END
) AS s(st)
"""

_ATTEMPTS = """
INSERT INTO attempts (id, delivery_id, app_id, number, provider, outcome, code, detail, started_at, duration_ms)
SELECT CAST(left(replace(CAST(d.id AS text), '-', ''), 22) || lpad(to_hex(k), 2, '0') || substr(md5(CAST(d.id AS text)
         || k), 1, 8) AS uuid),
       d.id, d.app_id, k, d.provider,
       CASE WHEN k < d.attempts THEN 'retry' WHEN d.state = 'delivered' THEN 'delivered'
            WHEN d.state = 'failed' THEN 'permanent' ELSE 'retry' END,
       CASE WHEN k < d.attempts OR d.state = 'dead' THEN 'timeout' WHEN d.state = 'failed' THEN '550' END,
       NULL, d.created_at + k * interval '1 second', 80 + k
FROM deliveries AS d, generate_series(1, d.attempts) AS k
WHERE d.attempts > 0
"""

_EVENTS = """
INSERT INTO delivery_events (id, app_id, delivery_id, kind, source, code, detail, occurred_at, recorded_at, dedupe)
SELECT CAST(left(replace(CAST(d.id AS text), '-', ''), 22) || e.tag || substr(md5(CAST(d.id AS text) || e.kind), 1, 8)
         AS uuid),
       d.app_id, d.id, e.kind, coalesce(d.provider, 'herald'), NULL, NULL, d.created_at + e.after,
       d.created_at + e.after, e.kind
FROM deliveries AS d
CROSS JOIN LATERAL (SELECT get_byte(uuid_send(d.id), 14) / 256.0) AS p(pick)
CROSS JOIN LATERAL (VALUES
    ('a0', d.outcome, interval '30 seconds', d.outcome IS NOT NULL),
    ('b0', 'opened', interval '2 hours', d.outcome = 'delivered' AND d.channel = 'email' AND pick < 0.3),
    ('c0', 'clicked', interval '3 hours', d.outcome = 'delivered' AND d.channel = 'email' AND pick < 0.08)
) AS e(tag, kind, after, keep)
WHERE e.keep
"""

_ENGAGEMENTS = """
INSERT INTO engagements (delivery_id, kind, app_id, first_at, last_at, count)
SELECT delivery_id, kind, app_id, min(occurred_at), max(occurred_at), count(*)
FROM delivery_events WHERE kind IN ('opened', 'clicked') GROUP BY delivery_id, kind, app_id
"""


async def _exists(o: Options, name: str) -> bool:
    conn = await asyncpg.connect(o.pg_url, timeout=10)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def _admin(o: Options, *statements: str) -> None:
    conn = await asyncpg.connect(o.pg_url, timeout=10)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _url(o: Options, name: str) -> str:
    base = o.pg_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def prepare(o: Options) -> tuple[str, dict[str, Any]]:
    """The database of this key, built if it does not exist yet (the others are dropped)."""
    name = database_name(o)
    url = _url(o, name)
    if await _exists(o, name) and not o.rebuild:
        marker = await _marker(url)
        if marker is not None:
            return url, marker | {"reused": True}
    conn = await asyncpg.connect(o.pg_url, timeout=10)
    try:
        old = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'bench_activity_%'")
    finally:
        await conn.close()
    await _admin(o, *(f'DROP DATABASE IF EXISTS "{r["datname"]}" WITH (FORCE)' for r in old))
    await _admin(o, f'CREATE DATABASE "{name}"')
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        built = await fill(engine, o)
    finally:
        await engine.dispose()
    return url, built | {"reused": False}


async def _marker(url: str) -> dict[str, Any] | None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT to_regclass('bench_activity_built')"))
            if found.scalar_one() is None:
                return None
            row = (await conn.execute(text("SELECT doc FROM bench_activity_built"))).scalar_one()
            return dict(row)
    finally:
        await engine.dispose()


async def fill(engine: AsyncEngine, o: Options) -> dict[str, Any]:
    sessions = make_sessionmaker(engine)
    apps = []
    async with transaction(sessions) as session:
        for i, share in enumerate(APP_SHARES):
            creds = await create_app(session, f"app-{i}-{share}pct", "pepper")
            apps.append(str(creds.app_id))
        for app in apps:
            for t in range(40):
                await session.execute(
                    text(
                        "INSERT INTO templates (app_id, key, description, default_locale, content, version,"
                        " created_at, updated_at) VALUES (:app, :key, NULL, 'en', CAST(:content AS jsonb), 1,"
                        " :at, :at)"
                    ),
                    {"app": uuid.UUID(app), "key": f"template-{t}", "content": _json(TEMPLATE_BODY), "at": _EPOCH},
                )
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=o.days)
    step_ms = o.days * 86_400_000 // o.notifications
    timings: dict[str, float] = {}
    steps = (
        ("notifications", _NOTIFICATIONS),
        ("deliveries", _DELIVERIES),
        ("attempts", _ATTEMPTS),
        ("delivery_events", _EVENTS),
        ("engagements", _ENGAGEMENTS),
    )
    params = {
        "apps": [uuid.UUID(a) for a in apps],
        "n": o.notifications,
        "start_ms": int(start.timestamp() * 1000),
        "step_ms": step_ms,
        "recent": end - timedelta(hours=1),
    }
    async with engine.begin() as conn:
        await conn.execute(text("SELECT setseed(0.23)"))
        for table, sql in steps:
            t0 = time.monotonic()
            await conn.execute(text(sql), params)
            timings[f"{table}_s"] = round(time.monotonic() - t0, 1)
            print(f"[activity] filled {table} in {timings[f'{table}_s']} s")
    counts = await _vacuum_and_count(engine)
    doc = {"apps": apps, "end": end.isoformat(), "counts": counts, "fill_seconds": timings}
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE bench_activity_built (doc jsonb NOT NULL)"))
        await conn.execute(text("INSERT INTO bench_activity_built VALUES (CAST(:doc AS jsonb))"), {"doc": _json(doc)})
    return doc


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_TABLES = ("notifications", "deliveries", "attempts", "delivery_events", "engagements")


async def _vacuum_and_count(engine: AsyncEngine) -> dict[str, Any]:
    """VACUUM ANALYZE, as autovacuum would have left an old log: statistics for the planner and
    the visibility map for index-only scans."""
    counts: dict[str, Any] = {}
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        t0 = time.monotonic()
        for table in _TABLES:
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
        counts["vacuum_s"] = round(time.monotonic() - t0, 1)
        for table in _TABLES:
            counts[table] = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
        sizes = await conn.execute(
            text(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace s ON s.oid = c.relnamespace"
                " WHERE s.nspname = 'public' AND c.relkind = 'i' AND (c.relname LIKE 'ix_notifications%'"
                " OR c.relname LIKE 'ix_deliveries%' OR c.relname LIKE 'pk_%' OR c.relname LIKE 'uq_%')"
            )
        )
        counts["index_mb"] = {name: round(size / 2**20, 1) for name, size in sizes}
    return counts


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def cases(apps: list[uuid.UUID], end: datetime, samples: list[uuid.UUID], event_id: str) -> dict[str, Run]:
    """Each query, on the largest app (`big`) unless said: the first page and the deep one."""
    big, small = apps[0], apps[-1]
    week, day = end - timedelta(days=7), end - timedelta(days=1)
    filters: dict[str, tuple[uuid.UUID, Search]] = {
        "app only": (big, Search()),
        "user (most active)": (big, Search(user_id="user-0")),
        "user (typical)": (big, Search(user_id="user-4321")),
        "event id": (big, Search(event_id=event_id)),
        "template (common)": (big, Search(template="template-0")),
        "template (rare)": (big, Search(template="template-39")),
        "category (common)": (big, Search(category="orders")),
        "category (rare, 0.1%)": (big, Search(category="legal")),
        "state delivered": (big, Search(state="delivered")),
        "state dead (1%)": (big, Search(state="dead")),
        "state queued (last hour only)": (big, Search(state="queued")),
        "channel email": (big, Search(channel="email")),
        "channel in_app (3%)": (big, Search(channel="in_app")),
        "provider smtp": (big, Search(provider="smtp")),
        "provider webpush (rare)": (big, Search(provider="webpush")),
        "time range: a day, a week ago": (big, Search(created_after=week, created_before=week + timedelta(days=1))),
        "time range: the last 7 days": (big, Search(created_after=week)),
        "7 days + template (rare)": (big, Search(template="template-39", created_after=week)),
        "7 days + channel sms": (big, Search(channel="sms", created_after=week)),
        "7 days + provider vonage": (big, Search(provider="vonage", created_after=week)),
        "a day + state failed": (big, Search(state="failed", created_after=day)),
        "7 days + user (most active)": (big, Search(user_id="user-0", created_after=week)),
        "30 days + category social": (big, Search(category="social", created_after=end - timedelta(days=30))),
        "template + channel": (big, Search(template="template-3", channel="sms")),
        "category + state dead": (big, Search(category="billing", state="dead")),
        "user + channel push": (big, Search(user_id="user-0", channel="push")),
        "small app: provider vonage": (small, Search(provider="vonage")),
        "small app: template (rare) + 7 days": (small, Search(template="template-39", created_after=week)),
    }
    out: dict[str, Run] = {}
    for name, (app, search) in filters.items():
        out[f"search: {name}"] = _search(app, search, None)
        if search.event_id is None:
            out[f"search: {name} (deep page)"] = _search(app, search, _deep(search, end))
    assert samples, "no notification with a click to time the timeline on"
    picks = iter(samples * 1000)

    async def timeline(uow: UnitOfWork) -> Any:
        n = next(picks)
        return await activity.notification_timeline(uow, await _app_of(uow, n), n)

    out["timeline (with content rendered)"] = timeline
    out[f"export: first CSV page ({activity.EXPORT_PAGE} rows)"] = _export_first(big)
    return out


def _deep(search: Search, end: datetime) -> uuid.UUID:
    """A cursor half-way into what the search covers: 45 days back, or the middle of its range."""
    if search.created_after is None:
        return id_floor(end - timedelta(days=45))
    return id_floor(search.created_after + ((search.created_before or end) - search.created_after) / 2)


def _search(app: uuid.UUID, search: Search, cursor: uuid.UUID | None) -> Run:
    async def run(uow: UnitOfWork) -> Any:
        return await notifications.list_notifications(uow, app, search, limit=50, cursor=cursor)

    return run


async def _app_of(uow: UnitOfWork, notification_id: uuid.UUID) -> uuid.UUID:
    found = await uow.session.execute(text("SELECT app_id FROM notifications WHERE id = :id"), {"id": notification_id})
    return uuid.UUID(str(found.scalar_one()))


def _export_first(app: uuid.UUID) -> Run:
    async def run(uow: UnitOfWork) -> Any:
        rows, _ = await notifications.search_page(uow, app, Search(), limit=activity.EXPORT_PAGE, cursor=None)
        deliveries = await log.deliveries_of(uow.session, [n.id for n in rows])
        return export.lines((export.row(n, deliveries[n.id]) for n in rows), header=True)

    return run


async def _samples(engine: AsyncEngine, end: datetime, k: int) -> list[uuid.UUID]:
    """Notifications with 2 or more deliveries and some events, across the log."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.notification_id FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id"
                " WHERE e.kind = 'clicked' AND e.delivery_id > :after LIMIT :k"
            ),
            {"after": id_floor(end - timedelta(days=30)), "k": k},
        )
        return [uuid.UUID(str(r[0])) for r in rows]


async def queries(engine: AsyncEngine, built: dict[str, Any], o: Options) -> dict[str, Any]:
    sessions = make_sessionmaker(engine)
    apps = [uuid.UUID(a) for a in built["apps"]]
    end = datetime.fromisoformat(built["end"])
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT event_id FROM notifications WHERE app_id = :app AND id > :mid ORDER BY id LIMIT 1"),
            {"app": apps[0], "mid": id_floor(end - timedelta(days=45))},
        )
        event_id = str(found.scalar_one())
    runs = cases(apps, end, await _samples(engine, end, 20), event_id)
    times: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    for name, run in runs.items():
        plans[name] = await explained(engine, sessions, run)
        samples = []
        for i in range(o.repeat + 3):
            t0 = time.perf_counter()
            async with unit_of_work(sessions) as uow:
                await run(uow)
            if i >= 3:  # the first runs prepare the statements and warm the cache
                samples.append((time.perf_counter() - t0) * 1000)
        times[name] = percentiles(samples)
        scans = ", ".join(f"{s['scan']} on {s['on']} ({s['rows']} rows)" for s in plans[name]["scans"])
        print(f"[activity] {name}: p50 {times[name]['p50']:.2f} ms, p95 {times[name]['p95']:.2f} ms; {scans}")
    return {"times": times, "plans": plans}


async def main(o: Options) -> dict[str, Any]:
    doc = await header("activity", o)
    t0 = time.monotonic()
    url, built = await prepare(o)
    doc["database"] = {"name": url.rsplit("/", 1)[1], "prepare_s": round(time.monotonic() - t0, 1), **built}
    print(f"[activity] database: {doc['database']}")
    if o.build_only:
        return doc
    engine = make_engine(url)
    try:
        found = await queries(engine, built, o)
    finally:
        await engine.dispose()
    doc["queries_ms"], doc["plans"] = found["times"], found["plans"]
    doc["full_scans"] = sorted(
        {f"{name}: {s['on']}" for name, p in found["plans"].items() for s in p["scans"] if s["scan"] == "Seq Scan"}
    )
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "queries_ms" not in doc:
        return []
    times = doc["queries_ms"]
    worst = max(times.items(), key=lambda kv: kv[1]["p95"] or 0.0) if times else None
    missed = [name for name, t in times.items() if (t["p95"] or 0.0) > TARGET_MS]
    shown = "-" if worst is None else f"slowest p95 {worst[1]['p95']:.1f} ms ({worst[0]})"
    scans = doc.get("full_scans", [])
    return [
        {
            "target": f"every Activity query p95 <= {TARGET_MS:.0f} ms on a log of {doc['options']['notifications']}",
            "value": None if worst is None else worst[1]["p95"],
            "shown": shown + (f"; over: {', '.join(missed)}" if missed else ""),
            "status": "MET" if worst is not None and not missed else "MISSED",
        },
        {
            "target": "no sequential scan of a table in any query's plan",
            "value": len(scans),
            "shown": "none" if not scans else "; ".join(scans),
            "status": "MET" if not scans else "MISSED",
        },
    ]


def render(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    size, busy = doc["options"]["notifications"], doc["busy_before_pct"]
    t = Table(title=f"Herald Activity on {size} notifications ({busy:.0f}% busy before)")
    for col in ("query", "p50 ms", "p95 ms", "max ms", "plan: scans (rows read)"):
        t.add_column(col, justify="left" if col.startswith(("query", "plan")) else "right")
    for name, q in doc.get("queries_ms", {}).items():
        scans = ", ".join(f"{s['on']} ({s['rows']})" for s in doc["plans"][name]["scans"])
        t.add_row(name, f"{q['p50']:.2f}", f"{q['p95']:.2f}", f"{q['max']:.2f}", scans)
    Console(width=200).print(t)
    for x in doc["targets"]:
        print(f"  {x['target']}: {x['shown']} -> {x['status']}")


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
