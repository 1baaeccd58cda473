"""One bench invocation: floor, Celery baseline, Herald on PostgreSQL + Redis, Herald on SQLite.

Everything shares one sandbox process (its inbox sequence numbers separate the phases) and
the machine's PostgreSQL and Redis (fresh databases, unique key prefixes), so the systems are
compared on the same servers in the same minute. The baseline runs first: its sustainable
rate sets the common offered load at which both p99s are compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cluster import Postgres, Redis, SandboxProcess
from bench.deploy import Deployment, Tuning, apns_usable, celery_baseline, herald_postgres, herald_sqlite
from bench.drive import WEIGHTS, Driver, Load, population
from bench.floor import measure_floor
from bench.measure import (
    CHANNEL_PART,
    Inbox,
    Machine,
    Measured,
    Meter,
    PgBackends,
    first_send_waits,
    run_phase,
    summarize,
)

# Seconds per phase of the short run; `single`: its one phase through the single endpoint.
SHORT = {
    "max": 7.0,
    "single": 5.0,
    "steady": 6.0,
    "common": 5.0,
    "sqlite": 6.0,
    "celery_max": 6.0,
    "floor": 0.3,
    "prime": 4.0,
}
LONG = {"floor": 1.5, "prime": 15.0}


@dataclass
class Options:
    backends: list[str] = field(default_factory=lambda: ["postgres", "sqlite"])
    duration: float = 20.0
    rate: float | None = None  # None: closed loop, as fast as the system delivers
    steady_rate: float = 1000.0
    mode: str = "batch"
    batch_size: int = 50
    latency_ms: float = 20.0
    users: int = 2000
    ios_share: float = 0.5
    celery: bool = True
    floor: bool = True
    short: bool = False
    warmup: float | None = None
    backlog: int = 5000
    private: bool = False
    wait_quiet: float = 0.0
    soak: int = 0
    results_dir: Path = Path(__file__).resolve().parent / "results"
    tuning: Tuning = field(default_factory=Tuning)

    def seconds(self, phase: str) -> float:
        return SHORT[phase] if self.short else LONG.get(phase, self.duration)

    def warmup_for(self, duration: float) -> float:
        return self.warmup if self.warmup is not None else min(3.0, max(1.5, duration * 0.2))


@dataclass
class Bench:
    """The shared parts of one invocation."""

    o: Options
    sandbox: SandboxProcess
    inbox: Inbox
    pg: Postgres
    redis: Redis
    workdir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    t0: float = field(default_factory=time.time)

    async def prime(self, dep: Deployment) -> None:
        """Unmeasured: one notification per user, so caches and pools are warm, as in steady state."""
        o = self.o
        print(f"[bench] {time.time() - self.t0:5.0f}s {dep.name}: priming ({o.users} notifications, unmeasured)")
        async with Driver(dep.base_url, dep.auth, o.users, f"prime-{uuid.uuid4().hex[:6]}", batch_size=100) as d:
            seq0 = await self.inbox.total()

            async def delivered() -> int:
                return await self.inbox.total() - seq0

            budget = o.seconds("prime")
            load = await d.run_max(budget, delivered, backlog=1000, concurrency=2, limit=o.users)
            deadline = time.monotonic() + budget
            while time.monotonic() < deadline and await delivered() < len(load.accepted):
                await asyncio.sleep(0.2)

    def modes(self) -> list[str]:
        """The request shapes of the throughput phases: batch, single, or both."""
        return ["batch", "single"] if self.o.mode == "both" else [self.o.mode]

    async def throughput(self, dep: Deployment, duration: float) -> None:
        """The system's flat-out (or --rate) phase, once per request shape."""
        label = "max" if self.o.rate is None else f"@{self.o.rate:.0f}"
        for mode in self.modes():
            await self.phase(dep, label, rate=self.o.rate, duration=duration, mode=mode)

    async def phase(
        self,
        dep: Deployment,
        label: str,
        *,
        rate: float | None,
        duration: float,
        limit: int | None = None,
        mode: str | None = None,
    ) -> dict[str, Any]:
        """Drive one system for `duration` seconds (at `rate`, or flat out up to `limit`) and summarize."""
        o = self.o
        extra: dict[str, list[Measured]] = {"sandbox": [self.sandbox.proc], "machine": [Machine()]}
        if dep.name != "herald-sqlite":
            extra["postgres"] = [PgBackends(dep.settings["database"])]
        parts: dict[str, list[Measured]] = {k: [*ps] for k, ps in dep.procs.items()}
        parts |= {f"{CHANNEL_PART}{c}": [*ps] for c, ps in dep.by_channel.items()}
        meter = Meter({**parts, **extra})
        mode = mode or self.modes()[0]
        batch = o.batch_size if mode == "batch" else 1
        tag = f"{dep.name}-{label}-{uuid.uuid4().hex[:6]}"
        clock = f"{time.time() - self.t0:5.0f}s"
        print(f"[bench] {clock} {dep.name} {label}: {duration:.0f} s, {mode}, {f'{rate:.0f}/s' if rate else 'max'}")
        async with Driver(dep.base_url, dep.auth, o.users, tag, batch_size=batch) as driver:

            async def drive(delivered: Callable[[], Awaitable[int]]) -> Load:
                if rate is not None:
                    return await driver.run_rate(rate, duration)
                loops = 4 if batch > 1 else 64
                return await driver.run_max(duration, delivered, backlog=o.backlog, concurrency=loops, limit=limit)

            scrape = functools.partial(first_send_waits, dep.metrics_urls, dep.metrics_token)
            waits = scrape if dep.metrics_urls else None
            load, rows, window = await run_phase(meter, self.inbox, drive, warmup=o.warmup_for(duration), waits=waits)
        stats = summarize(load, rows, window, meter, latency_ms=o.latency_ms, herald_kinds=dep.own_kinds)
        stats = {"system": dep.name, "phase": label, "mode": mode, "batch_size": batch, **stats}
        stats["settings"] = dep.settings
        self.runs.append(stats)
        a2p = stats["a2p_ms"]
        print(
            f"[bench]   {stats['deliveries_per_s']:.0f} deliveries/s, a2p p50 {_ms(a2p['p50'])} p99 {_ms(a2p['p99'])},"
            f" missing {stats['missing_after_drain']}, errors {stats['errors'] or 'none'}"
        )
        return stats


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


async def _celery(b: Bench, people: list[Any]) -> float:
    """The baseline flat out, then at the common rate; returns that rate."""
    o = b.o
    dep = await celery_baseline(b.workdir, b.pg, b.redis.url, b.sandbox, people, o.tuning)
    try:
        await b.prime(dep)
        await b.throughput(dep, o.seconds("celery_max"))
        best = next(r for r in b.runs if r["system"] == dep.name)
        common = _common_rate(o.steady_rate, best["deliveries_per_s"])
        await b.phase(dep, f"@{common:.0f}", rate=common, duration=o.seconds("common"))
        return common
    finally:
        await dep.stop()


def _common_rate(steady: float, baseline_max: float) -> float:
    """A load the baseline can sustain (80% of its best), capped at the steady rate."""
    return max(50.0, min(steady, round(baseline_max * 0.8, -1)))


async def _herald_pg(b: Bench, people: list[Any], common: float | None) -> None:
    o = b.o
    dep = await herald_postgres(b.workdir, b.pg, b.redis.url, b.sandbox, people, o.tuning)
    try:
        await b.prime(dep)
        await b.throughput(dep, o.seconds("max"))
        if o.short and b.modes() == ["batch"]:
            # What most callers use (one notification per request), flat out: its own figure,
            # not a target's (the targets read the batch phase, which comes first).
            await b.phase(dep, "max", rate=None, duration=o.seconds("single"), mode="single")
        await b.phase(dep, f"@{o.steady_rate:.0f}", rate=o.steady_rate, duration=o.seconds("steady"))
        if common is not None and common != o.steady_rate:
            await b.phase(dep, f"@{common:.0f}", rate=common, duration=o.seconds("common"))
        if o.soak:  # flat out until `soak` deliveries were accepted (at most 3 hours)
            await b.phase(dep, f"soak {o.soak}", rate=None, duration=3 * 3600, limit=o.soak)
    finally:
        await dep.stop()


async def _herald_sqlite(b: Bench, people: list[Any]) -> None:
    o = b.o
    dep = await herald_sqlite(b.workdir, b.sandbox, people, o.tuning)
    try:
        await b.prime(dep)
        await b.throughput(dep, o.seconds("sqlite"))
    finally:
        await dep.stop()


def versions() -> dict[str, str]:
    names = ["herald", "celery", "kombu", "httpx", "h2", "psycopg", "sqlalchemy", "asyncpg", "redis", "aiohttp"]
    out = {"python": platform.python_version()}
    for name in [*names, "fastapi", "uvicorn", "jinja2"]:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


async def machine_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPUs busy right now, before anything of ours runs."""
    m = Machine()
    before = m.cpu_seconds()
    await asyncio.sleep(seconds)
    return (m.cpu_seconds() - before) / seconds / _cpus()


async def header(system: str, options: Any) -> dict[str, Any]:
    """What a bench's results document opens with: which bench, when, how busy the machine was
    before it ran, its options (a dataclass) and the versions measured."""
    return {
        "system": system,
        "started_at": datetime.now(UTC).isoformat(),
        "busy_before_pct": round(await machine_busy() * 100, 1),
        "options": {k: str(v) for k, v in dataclasses.asdict(options).items()},
        "versions": versions(),
    }


async def _part(doc: dict[str, Any], name: str, work: Awaitable[Any]) -> Any:
    """One part of the bench; a failure is reported and recorded, and the other parts still run."""
    try:
        return await work
    except Exception as exc:
        print(f"[bench] {name} failed: {type(exc).__name__}: {exc}")
        doc.setdefault("failures", []).append({"part": name, "error": f"{type(exc).__name__}: {exc}"[:2000]})
        return None


async def main(o: Options) -> dict[str, Any]:
    """Run every part the options ask for; return the JSON document (report prints and saves it)."""
    busy = await machine_busy()
    deadline = time.monotonic() + o.wait_quiet
    while busy > 0.15 and time.monotonic() < deadline:
        busy = await machine_busy(2.0)
    if busy > 0.15:
        print(f"[bench] warning: the machine is already {busy:.0%} busy before the bench starts; figures will suffer")
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    doc: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "workdir": str(workdir), "runs": []}
    doc["busy_before_pct"] = round(100 * busy, 1)
    sandbox = await SandboxProcess.start(workdir, latency_ms=o.latency_ms)
    stops: list[Callable[[], Awaitable[None]]] = [sandbox.stop]
    common = None
    try:
        pg = await Postgres.private(workdir) if o.private else Postgres.shared()
        stops.append(pg.stop)
        redis = await Redis.private(workdir) if o.private else Redis.shared()
        stops.append(redis.stop)
        b = Bench(o, sandbox, Inbox(sandbox), pg, redis, workdir, runs=doc["runs"])
        stops.append(b.inbox.close)
        if o.ios_share > 0 and (problem := await apns_usable(sandbox)):
            print(f"[bench] warning: APNs does not work ({problem}); every push device will be Android (FCM)")
            doc["apns_problem"] = problem
            o.ios_share = 0.0
        people = population(o.users, o.ios_share)
        if o.floor:
            print("[bench] floor")
            h2_share = WEIGHTS["push"] / sum(WEIGHTS.values()) * o.ios_share
            floor = measure_floor(pg, redis.url, sandbox, budget=o.seconds("floor"), h2_share=h2_share)
            doc["floor"] = await _part(doc, "floor", floor)
        if o.celery:
            common = await _part(doc, "celery", _celery(b, people))
        if "postgres" in o.backends:
            await _part(doc, "herald-pg", _herald_pg(b, people, common))
        if "sqlite" in o.backends:
            await _part(doc, "herald-sqlite", _herald_sqlite(b, people))
    finally:
        for stop in reversed(stops):
            await stop()
    doc["common_rate"] = common
    doc["elapsed_s"] = round(time.time() - started, 1)
    doc["options"] = {k: str(v) for k, v in dataclasses.asdict(o).items()}
    doc["versions"] = versions()
    doc["machine"] = {"cpus": _cpus(), "platform": platform.platform(), "busy_before_pct": doc["busy_before_pct"]}
    return doc


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def run(o: Options) -> dict[str, Any]:
    import uvloop

    return uvloop.run(main(o)) if hasattr(uvloop, "run") else asyncio.run(main(o))
