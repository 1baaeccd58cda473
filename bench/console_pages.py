"""`python -m bench.console_pages`: the console's Activity, Dead letters and Users pages over
HTTP, on a log of a million notifications (issue 23: "console pages answer in <= 100 ms p95
with a log of 1M notifications").

1. the database: bench/activity.py's (built, or reused while its key holds): 5 apps, 1M
   notifications over 90 days, their deliveries, attempts, receipts, opens and clicks;
2. in it, idempotently: a console user who is an editor of the largest app (through the
   console service, as `herald console create-user` does), and the app's most active user
   ("user-0") with contacts, for the user page;
3. `herald api` (one process) against it, with the shared Redis under a prefix of its own;
4. an HTTP client signs in as that user, then requests each page `repeat` times after a
   warm-up, one at a time, and times the whole answer: the Activity page without a filter,
   by each filter, a deep page (the cursor 45 days back), a notification's page (timeline and
   content rendered), the Dead letters page (and filtered), a dead letter, a user's page.
   p50/p95 per page, judged against 100 ms. Run it under the exclusive bench lock.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import text

from bench import activity as log_bench
from bench.cluster import Herald
from bench.deploy import _delete_prefix
from bench.engines import Redis
from bench.measure import percentiles
from bench.report import run_bench
from bench.run import header
from herald.console import service as console
from herald.console.errors import ConsoleUserExists
from herald.console.schemas import Role
from herald.kit.db import make_engine, make_sessionmaker, transaction
from herald.notifications.search import id_floor

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
EMAIL = "bench-console@herald.bench"
# A local bench database's console user: the password guards nothing of value.
PASSWORD = "bench console password, not a secret"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Options:
    notifications: int = 1_000_000
    days: int = 90
    repeat: int = 30
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.console_pages", description=__doc__)
    p.add_argument("--notifications", type=int, default=1_000_000, help="notifications in the log")
    p.add_argument("--days", type=int, default=90, help="days the log spans")
    p.add_argument("--repeat", type=int, default=30, help="timed requests of each page")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="the server to use")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(a.notifications, a.days, a.repeat, a.pg, a.results)


async def _member_and_user(url: str, app_id: uuid.UUID) -> None:
    """The console user (an editor of the app) and the app's user-0, made once per database."""
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            try:
                await console.create_user(session, EMAIL, PASSWORD)
            except ConsoleUserExists:
                await console.reset_password(session, EMAIL, PASSWORD)
            await console.add_member(session, app_id, EMAIL, Role.EDITOR)
            await session.execute(
                text(
                    "INSERT INTO users (app_id, user_id, name, email, phone, attributes, created_at, updated_at)"
                    " VALUES (:app, 'user-0', 'Ada', 'user-0@example.com', '+14155550100', '{}', now(), now())"
                    " ON CONFLICT DO NOTHING"
                ),
                {"app": app_id},
            )
    finally:
        await engine.dispose()


async def _picks(url: str, app_id: uuid.UUID, end: datetime) -> dict[str, str]:
    """A notification with events and a dead letter of the app, from the middle of the log."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            mid = id_floor(end - timedelta(days=30))
            clicked = await conn.execute(
                text(
                    "SELECT d.notification_id FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id"
                    " WHERE e.kind = 'clicked' AND e.delivery_id > :mid AND d.app_id = :app LIMIT 1"
                ),
                {"mid": mid, "app": app_id},
            )
            dead = await conn.execute(
                text("SELECT id FROM deliveries WHERE app_id = :app AND state = 'dead' AND id > :mid LIMIT 1"),
                {"mid": mid, "app": app_id},
            )
            event = await conn.execute(
                text("SELECT event_id FROM notifications WHERE app_id = :app AND id > :mid ORDER BY id LIMIT 1"),
                {"mid": id_floor(end - timedelta(days=45)), "app": app_id},
            )
            return {
                "notification": str(clicked.scalar_one()),
                "dead": str(dead.scalar_one()),
                "event_id": str(event.scalar_one()),
            }
    finally:
        await engine.dispose()


def pages(app_id: uuid.UUID, end: datetime, picks: dict[str, str]) -> dict[str, str]:
    """Each page timed, as a path below the server."""
    base = f"/console/apps/{app_id}"
    week = (end - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    deep = id_floor(end - timedelta(days=45)).hex
    activity = {
        "no filter": {},
        "user (most active)": {"user_id": "user-0"},
        "user (typical)": {"user_id": "user-4321"},
        "event id": {"event_id": picks["event_id"]},
        "template (common)": {"template": "template-0"},
        "template (rare)": {"template": "template-39"},
        "category (rare)": {"category": "legal"},
        "state dead": {"state": "dead"},
        "channel in_app": {"channel": "in_app"},
        "provider webpush": {"provider": "webpush"},
        "the last 7 days": {"created_after": week},
        "7 days + channel sms": {"created_after": week, "channel": "sms"},
        "deep page (45 days back)": {"cursor": deep},
        "deep page + template (common)": {"template": "template-0", "cursor": deep},
    }
    out = {f"activity: {name}": f"{base}/activity" + (f"?{urlencode(q)}" if q else "") for name, q in activity.items()}
    out["notification page (timeline, content)"] = f"{base}/activity/{picks['notification']}"
    out["dead letters"] = f"{base}/dead-letters"
    out["dead letters: channel sms"] = f"{base}/dead-letters?channel=sms"
    out["dead letters: provider vonage, 30 days"] = f"{base}/dead-letters?" + urlencode(
        {"provider": "vonage", "since": (end - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")}
    )
    out["dead letters: replay confirmation (channel sms)"] = f"{base}/dead-letters/replay?channel=sms"
    out["dead letter"] = f"{base}/dead-letters/{picks['dead']}"
    out["user page (user-0)"] = f"{base}/users/user-0"
    return out


async def sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/console/login")
    token = _CSRF.search(form.text)
    assert token is not None, "no CSRF token on the sign-in page"
    r = await client.post("/console/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
    if r.status_code != 303:
        raise RuntimeError(f"sign-in failed: {r.status_code} {r.text[:300]}")


async def time_pages(base_url: str, paths: dict[str, str], repeat: int) -> dict[str, Any]:
    times: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await sign_in(client)
        for name, path in paths.items():
            samples, size = [], 0
            for i in range(repeat + 3):
                t0 = time.perf_counter()
                r = await client.get(path)
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {path} answered {r.status_code}")
                if i >= 3:  # the first requests warm the caches and prepare the statements
                    samples.append(elapsed)
                size = len(r.content)
            times[name] = percentiles(samples) | {"bytes": size, "path": path}
            print(f"[console] {name}: p50 {times[name]['p50']:.1f} ms, p95 {times[name]['p95']:.1f} ms, {size} B")
    return times


async def main(o: Options) -> dict[str, Any]:
    doc = await header("console-pages", o)
    built_options = log_bench.Options(notifications=o.notifications, days=o.days, pg_url=o.pg_url)
    t0 = time.monotonic()
    url, built = await log_bench.prepare(built_options)
    doc["database"] = {"name": url.rsplit("/", 1)[1], "prepare_s": round(time.monotonic() - t0, 1)}
    doc["database"] |= {"reused": built["reused"], "counts": built.get("counts")}
    app_id, end = uuid.UUID(built["apps"][0]), datetime.fromisoformat(built["end"])
    await _member_and_user(url, app_id)
    paths = pages(app_id, end, await _picks(url, app_id, end))
    redis = Redis.shared()
    prefix = f"bench-console-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="herald-console-bench-") as workdir:
        env = {"HERALD_DATABASE_URL": url, "HERALD_REDIS_URL": redis.url, "HERALD_REDIS__PREFIX": prefix}
        herald = Herald(Path(workdir), env)
        try:
            base_url = await herald.api()
            doc["pages_ms"] = await time_pages(base_url, paths, o.repeat)
            doc["api_cpu_s"] = round(next(p for p in herald.procs if p.name == "api").cpu_seconds(), 2)
        finally:
            await herald.stop()
            await _delete_prefix(redis.url, prefix + ":")
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    times = doc.get("pages_ms", {})
    if not times:
        return []
    worst = max(times.items(), key=lambda kv: kv[1]["p95"] or 0.0)
    missed = [name for name, t in times.items() if (t["p95"] or 0.0) > TARGET_MS]
    shown = f"slowest p95 {worst[1]['p95']:.1f} ms ({worst[0]})" + (f"; over: {', '.join(missed)}" if missed else "")
    return [
        {
            "target": f"every console page p95 <= {TARGET_MS:.0f} ms on a log of {doc['options']['notifications']}",
            "value": worst[1]["p95"],
            "shown": shown,
            "status": "MISSED" if missed else "MET",
        }
    ]


def render(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    size, busy = doc["options"]["notifications"], doc["busy_before_pct"]
    t = Table(title=f"Herald console pages over HTTP on {size} notifications ({busy:.0f}% busy before)")
    for col in ("page", "p50 ms", "p95 ms", "max ms", "bytes"):
        t.add_column(col, justify="left" if col == "page" else "right")
    for name, q in doc.get("pages_ms", {}).items():
        t.add_row(name, f"{q['p50']:.1f}", f"{q['p95']:.1f}", f"{q['max']:.1f}", str(q["bytes"]))
    Console(width=160).print(t)
    for x in doc["targets"]:
        print(f"  {x['target']}: {x['shown']} -> {x['status']}")


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
