"""`python -m bench.analytics`: the analytics queries over a year of a busy app's rollups, and what
the rollups' consumer costs per event, on PostgreSQL (issue 22: "a query over a year of rollups
answers in milliseconds, whatever the size of the log").

1. fill: one app with T templates x C channels x P providers, every hour of 365 days in the
   hourly table and every day in the daily one (server-side, generate_series), the monthly
   table summed from the daily one, then ANALYZE; the rollups are all a query reads, so
   the size of the event log does not enter;
2. queries: each of the API's reads (the service functions the routes call, in a unit of work:
   the SQL and the assembly of the answer, not HTTP), N times after a warm-up: p50/p99 in ms;
   and the plan of each (EXPLAIN ANALYZE: its scans, the rows they read);
3. consumer: batches of new events (a mix of kinds over every key of one hour) handed to the
   consumer in a transaction ("with": hourly, daily and monthly), against the same transaction
   without it, with the statement of migration 0010 (hourly and daily only: "before") and with
   the six-table statement of the first version of 0011 (the app's own hourly, daily and
   monthly rows too, one row per app and bucket every writer of the app locks: "six"; its
   tables made here for the bench), in rotating order: the wall time each adds per event, and
   this process's CPU per event.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.engines import Postgres
from bench.measure import percentiles
from bench.report import save
from bench.run import machine_busy, versions
from herald.analytics import service
from herald.analytics.consumer import Rollups, increments
from herald.analytics.models import COUNTERS, DIMENSIONS
from herald.analytics.repository import TABLES, Filters, Increments, _pg_upsert, pg_params, pg_upsert
from herald.apps.service import create_app
from herald.events.repository import Target
from herald.events.service import Incoming, Recorded
from herald.kit.db import make_engine, make_sessionmaker, transaction
from herald.kit.uow import unit_of_work
from herald.migrations import upgrade

REPO = Path(__file__).resolve().parent.parent
CHANNELS = ("email", "sms", "push", "in_app")
PROVIDERS = ("p1", "p2", "p3")
# The mix of a busy email/SMS app's events: per delivery accepted, sent, a receipt, sometimes an
# open or a click.
KINDS = ("accepted",) * 4 + ("sent",) * 4 + ("delivered",) * 3 + ("opened",) * 2 + ("clicked", "failed")


@dataclass
class Options:
    templates: int = 50
    days: int = 365
    repeat: int = 50
    batches: int = 200
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__)
    p.add_argument("--templates", type=int, default=50, help="templates (x 4 channels x 3 providers)")
    p.add_argument("--days", type=int, default=365, help="days of hourly and daily rollups")
    p.add_argument("--repeat", type=int, default=50, help="timed runs of each query")
    p.add_argument("--batches", type=int, default=200, help="consumer batches per batch size")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="the server to use")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(a.templates, a.days, a.repeat, a.batches, a.pg, a.results)


def _fill_sql(table: str, bucket: str, series: str, value: str = "b") -> str:
    # Counters that look like a real cohort (sent <= accepted, delivered <= sent...), varied by
    # row so that nothing is constant-folded.
    return f"""
    INSERT INTO {table} (app_id, {bucket}, template, template_version, channel, provider, accepted, sent,
        delivered, undelivered, bounced, complained, failed, dead, unsubscribed, opened, opened_unique,
        clicked, clicked_unique)
    SELECT CAST(:app AS uuid), {value}, 'template-' || t, '', c, p, n, n - n / 50, n - n / 20, n / 100, n / 200,
        n / 5000, n / 100, n / 1000, n / 2000, n / 2, n / 3, n / 10, n / 15
    FROM {series} AS b,
        generate_series(1, :templates) AS t,
        unnest(CAST(:channels AS text[])) AS c,
        unnest(CAST(:providers AS text[])) AS p,
        LATERAL (SELECT 20 + (hashtext(b::text || t || c || p) & 1023)) AS v(n)
    """


_COARSER = (("analytics_monthly", "month", "analytics_daily", "CAST(date_trunc('month', day) AS date)"),)


async def fill(engine: AsyncEngine, app: uuid.UUID, o: Options, end: datetime) -> dict[str, Any]:
    start = end - timedelta(days=o.days)
    params = {"app": app, "templates": o.templates, "channels": list(CHANNELS), "providers": list(PROVIDERS)}
    t0 = time.monotonic()
    async with engine.begin() as conn:
        hours = "generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz) - interval '1 hour', '1 hour')"
        await conn.execute(text(_fill_sql("analytics_hourly", "hour", hours)), params | {"start": start, "end": end})
        days = "generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz) - interval '1 day', '1 day')"
        daily = _fill_sql("analytics_daily", "day", days, "CAST(b AT TIME ZONE 'UTC' AS date)")
        first, last = (datetime.combine(d.date(), datetime.min.time(), UTC) for d in (start, end))
        await conn.execute(text(daily), params | {"start": first, "end": last})
        # The coarser tables, as the consumer would have written them: sums of the finer ones.
        for target, bucket, source, value in _COARSER:
            keys = ", ".join(("app_id", *DIMENSIONS))
            sums = ", ".join(f"sum({c})" for c in COUNTERS)
            await conn.execute(
                text(
                    f"INSERT INTO {target} ({keys}, {bucket}, {', '.join(COUNTERS)})"
                    f" SELECT {keys}, {value}, {sums} FROM {source} GROUP BY {keys}, {value}"
                )
            )
    tables = [t.name for t in TABLES.values()]
    async with engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        for table in tables:
            await conn.execute(text(f"ANALYZE {table}"))
        counts: dict[str, float] = {}
        for table in tables:
            counts[table] = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            size = await conn.execute(text(f"SELECT pg_total_relation_size('{table}')"))
            counts[f"{table}_mb"] = round(int(size.scalar_one()) / 2**20, 1)
    counts["seconds"] = round(time.monotonic() - t0, 1)
    return counts


async def queries(engine: AsyncEngine, app: uuid.UUID, o: Options, end: datetime) -> dict[str, Any]:
    sessions = make_sessionmaker(engine)
    year_start = end - timedelta(days=o.days)
    ragged = (year_start + timedelta(hours=7, minutes=20), end - timedelta(hours=5, minutes=40))
    none = Filters()
    cases: dict[str, Any] = {
        "totals, a year (whole days)": lambda uow: service.totals(uow, app, year_start, end, none),
        "totals, a year (ragged ends: daily + hourly)": lambda uow: service.totals(uow, app, *ragged, none),
        "totals, a year, one template": lambda uow: service.totals(uow, app, *ragged, Filters(template="template-7")),
        "series by day, a year": lambda uow: service.series(uow, app, year_start, end, "day", none),
        "series by day, a year, one template": lambda uow: service.series(
            uow, app, year_start, end, "day", Filters(template="template-7")
        ),
        "breakdown by template, a year": lambda uow: service.breakdown(uow, app, *ragged, "template", none, 100),
        "breakdown by provider, a year, email only": lambda uow: service.breakdown(
            uow, app, *ragged, "provider", Filters(channel="email"), 100
        ),
        "breakdown by channel, a year": lambda uow: service.breakdown(uow, app, *ragged, "channel", none, 100),
        "series by hour, 7 days": lambda uow: service.series(uow, app, end - timedelta(days=7), end, "hour", none),
        "totals, the default 30 days": lambda uow: service.totals(uow, app, end - timedelta(days=30), end, none),
    }
    out: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    for name, run in cases.items():
        plans[name] = await _plan(engine, sessions, run)
        times = []
        for i in range(o.repeat + 3):
            t0 = time.perf_counter()
            async with unit_of_work(sessions) as uow:
                await run(uow)
            if i >= 3:  # the first runs prepare the statements and warm the cache
                times.append((time.perf_counter() - t0) * 1000)
        out[name] = percentiles(times)
        scans = ", ".join(f"{s['scan']} on {s['on']} ({s['rows']} rows)" for s in plans[name]["scans"])
        print(f"[analytics] {name}: p50 {out[name]['p50']:.2f} ms, p99 {out[name]['p99']:.2f} ms; {scans}")
    return {"times": out, "plans": plans}


async def _plan(engine: AsyncEngine, sessions: Any, run: Any) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the statement(s) a query runs: its scans, what they read, the time."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with unit_of_work(sessions) as uow:
            await run(uow)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    scans: list[dict[str, Any]] = []
    execution_ms = 0.0
    async with engine.connect() as conn:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            [plan] = raw.scalar_one()
            execution_ms += plan["Execution Time"]
            _scans(plan["Plan"], scans)
    return {"execution_ms": round(execution_ms, 2), "scans": scans}


def _scans(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    if "Scan" in node["Node Type"] and "Relation Name" in node:
        on = node.get("Index Name", node["Relation Name"])
        rows = node["Actual Rows"] * node.get("Actual Loops", 1)
        out.append({"scan": node["Node Type"], "on": on, "rows": rows, "heap_fetches": node.get("Heap Fetches")})
    for child in node.get("Plans", []):
        _scans(child, out)


def _batch(app: uuid.UUID, size: int, hour: datetime, rng: random.Random, templates: int) -> list[Recorded]:
    out = []
    for _ in range(size):
        kind = rng.choice(KINDS)
        template, at = f"template-{rng.randint(1, templates)}", hour + timedelta(seconds=rng.randint(0, 3599))
        channel, provider = rng.choice(CHANNELS), rng.choice(PROVIDERS)
        target = Target(uuid.uuid4(), app, uuid.uuid4(), channel, "u", None, template, None, provider, at)
        event = Incoming(target.delivery_id, kind, "bench", hour, kind)
        out.append(Recorded(event, target, outcome_changed=True, first_of_kind=rng.random() < 0.7))
    return out


def _key(r: Recorded) -> tuple[str | None, str, str | None]:
    return r.target.template, r.target.channel, r.target.provider


async def consumer(engine: AsyncEngine, app: uuid.UUID, o: Options, end: datetime) -> dict[str, Any]:
    """The consumer's cost: a transaction with it ("with": hourly, daily, monthly), with the
    statement of migration 0010 ("before": hourly and daily), with the first 0011's six tables
    ("six") and without, in rotating order."""
    await _six_tables(engine)
    rollups, rng = Rollups(), random.Random(22)
    out: dict[str, Any] = {}
    modes = ("with", "before", "six", "without")
    for size in (1, 50, 500):
        batches = [_batch(app, size, end - timedelta(hours=2), rng, o.templates) for _ in range(o.batches)]
        walls: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, float] = dict.fromkeys(modes, 0.0)
        for n, batch in enumerate(batches):
            k = n % len(modes)
            for mode in modes[k:] + modes[:k]:
                c0, t0 = time.process_time(), time.perf_counter()
                async with engine.begin() as conn:
                    await conn.execute(text("SELECT 1"))  # the events' own statements stand here
                    if mode == "with":
                        await rollups.recorded(conn, batch)
                    elif mode == "before":
                        await conn.execute(_BEFORE, pg_params(increments(batch), _BEFORE_TABLES))
                    elif mode == "six":
                        await conn.execute(_SIX, _six_params(increments(batch)))
                walls[mode].append((time.perf_counter() - t0) * 1000)
                cpu[mode] += time.process_time() - c0
        events = size * len(batches)
        r: dict[str, Any] = {f"transaction_ms_{m}": percentiles(walls[m]) for m in modes}
        for m in modes[:-1]:
            r[f"added_ms_per_event_{m}"] = (sum(walls[m]) - sum(walls["without"])) / events
            r[f"client_cpu_us_per_event_{m}"] = (cpu[m] - cpu["without"]) / events * 1e6
        r["keys_per_batch"] = sum(len({_key(x) for x in b}) for b in batches) / len(batches)
        out[f"batch of {size}"] = r
        print(
            f"[analytics] consumer, batch of {size}: added µs/event wall (CPU here):"
            + ", ".join(
                f" {m} {r[f'added_ms_per_event_{m}'] * 1000:.0f} ({r[f'client_cpu_us_per_event_{m}']:.0f})"
                for m in modes[:-1]
            )
            + "; transaction p50"
            + ", ".join(f" {m} {r[f'transaction_ms_{m}']['p50']:.2f}" for m in modes)
            + " ms"
        )
    return out


# The consumer's statement before migration 0011: the hourly and daily tables only.
_BEFORE_TABLES = ("hourly", "daily")
_BEFORE = pg_upsert(_BEFORE_TABLES)
# The first version of 0011: the three tables and the app's own rows (no dimensions) per hour,
# day and month, in one statement. Its three extra tables exist only in the bench's database.
_APP_TABLES = (("app_hourly", "hour", "timestamptz"), ("app_daily", "day", "date"), ("app_monthly", "month", "date"))


def _app_upsert(name: str, bucket: str, sql_type: str) -> str:
    arrays = [f"CAST(:{name}_app_id AS uuid[])", f"CAST(:{name}_bucket AS {sql_type}[])"]
    arrays += [f"CAST(:{name}_{c} AS bigint[])" for c in COUNTERS]
    sets = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)
    return (
        f"INSERT INTO analytics_{name} AS r (app_id, {bucket}, {', '.join(COUNTERS)})"
        f" SELECT * FROM unnest({', '.join(arrays)}) ON CONFLICT (app_id, {bucket}) DO UPDATE SET {sets}"
    )


def _six() -> TextClause:
    parts = [(name, _pg_upsert(TABLES[name], name + "_")) for name in TABLES]
    parts += [(name, _app_upsert(name, bucket, sql_type)) for name, bucket, sql_type in _APP_TABLES]
    ctes = ", ".join(f"{name} AS ({part})" for name, part in parts[:-1])
    return text(f"WITH {ctes} {parts[-1][1]}")


_SIX = _six()


def _six_params(found: Increments) -> dict[str, list[Any]]:
    params = pg_params(found, list(TABLES))
    for name, bucket, _ in _APP_TABLES:
        source = found["hourly" if bucket == "hour" else "daily" if bucket == "day" else "monthly"]
        rows: dict[tuple[Any, Any], list[int]] = {}
        for key, counts in source.items():
            row = rows.setdefault((key[0], key[1]), [0] * len(COUNTERS))
            for i, n in enumerate(counts):
                row[i] += n
        keys = sorted(rows)
        params[f"{name}_app_id"] = [k[0] for k in keys]
        params[f"{name}_bucket"] = [k[1] for k in keys]
        for i, c in enumerate(COUNTERS):
            params[f"{name}_{c}"] = [rows[k][i] for k in keys]
    return params


async def _six_tables(engine: AsyncEngine) -> None:
    counters = ", ".join(f"{c} bigint NOT NULL" for c in COUNTERS)
    async with engine.begin() as conn:
        for name, bucket, sql_type in _APP_TABLES:
            await conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS analytics_{name} (app_id uuid NOT NULL REFERENCES apps (id)"
                    f" ON DELETE CASCADE, {bucket} {sql_type} NOT NULL, {counters}, PRIMARY KEY (app_id, {bucket}))"
                )
            )


async def main(o: Options) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "system": "analytics",
        "started_at": datetime.now(UTC).isoformat(),
        "busy_before_pct": round(await machine_busy() * 100, 1),
        "options": {k: str(v) for k, v in asdict(o).items()},
        "versions": versions(),
    }
    pg = Postgres.shared(o.pg_url)
    url = await pg.create_database(f"bench_analytics_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                creds = await create_app(session, "busy", "pepper")
            app = uuid.UUID(str(creds.app_id))
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            doc["rollups"] = await fill(engine, app, o, end)
            print(f"[analytics] filled: {doc['rollups']}")
            found = await queries(engine, app, o, end)
            doc["queries_ms"], doc["plans"] = found["times"], found["plans"]
            doc["consumer"] = await consumer(engine, app, o, end)
        finally:
            await engine.dispose()
    finally:
        await pg.stop()
    slowest = max(q["p99"] for name, q in doc["queries_ms"].items() if "a year" in name)
    doc["targets"] = [
        {
            "target": "a query over a year of rollups answers in milliseconds (p99 under 20 ms)",
            "value": slowest,
            "shown": f"slowest p99 of a year's queries {slowest:.1f} ms",
            "status": "MET" if slowest < 20 else "MISSED",
        }
    ]
    return doc


def cli(argv: list[str] | None = None) -> int:
    o = parse(sys.argv[1:] if argv is None else argv)
    doc = asyncio.run(main(o))
    print(f"[analytics] {doc['targets'][0]['shown']}: {doc['targets'][0]['status']}")
    print(f"results: {save(doc, o.results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
