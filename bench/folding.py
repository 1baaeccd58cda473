"""`python -m bench.folding`: what a fold of the staged analytics increments costs the embedded
process (SQLite), apart from everything else a flat-out run does.

Flat out, `herald run` stages about 80 rows a second over a dozen keys (one hour, a few
templates, each channel with its provider) and its folder folds them once a second on the
event loop that also sends. A whole run varies by ±20% a round on this machine, far more than
the fold can cost, so this bench measures the fold alone: FOLDS times, that second's rows are
staged (in transactions of a few rows, as the intake's and the recorder's batches stage them)
and folded by a `Folder`, timed: wall time per fold, the event loop's thread's CPU, and the
whole process's CPU (SQLite's thread included). Then it checks the rollups hold every staged
count once, in the combinations and in the app's totals (a fast fold that loses rows proves
nothing).

Measured side by side with the code before it (`bench.alternate` with this file copied into each
worktree): bench/results/issue22-s33/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.measure import percentiles
from bench.report import save
from bench.run import header
from herald.analytics.folding import Folder
from herald.analytics.models import COUNTERS
from herald.analytics.repository import Increments, stage
from herald.apps.service import create_app
from herald.kit.db import make_engine, make_sessionmaker, transaction
from herald.migrations import upgrade

REPO = Path(__file__).resolve().parent.parent
CHANNELS = {"push": "apns", "email": "smtp", "sms": "twilio"}


@dataclass(frozen=True)
class Options:
    folds: int
    rows: int  # staged per fold
    templates: int
    results_dir: Path


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.folding", description=__doc__)
    p.add_argument("--folds", type=int, default=300, help="timed folds")
    p.add_argument("--rows", type=int, default=80, help="staged rows per fold (a flat-out second's)")
    p.add_argument("--templates", type=int, default=4, help="templates (x 3 channels: the keys)")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(a.folds, a.rows, a.templates, a.results)


def _second(app: uuid.UUID, hour: datetime, o: Options, rng: random.Random) -> list[Increments]:
    """A second's staged rows, in transactions of five."""
    out: list[Increments] = []
    for start in range(0, o.rows, 5):
        batch: Increments = {}
        for _ in range(min(5, o.rows - start)):
            channel = rng.choice(list(CHANNELS))
            key = (app, hour, f"template-{rng.randint(1, o.templates)}", "1", channel, CHANNELS[channel])
            counts = [0] * len(COUNTERS)
            counts[COUNTERS.index(rng.choice(["accepted", "sent", "delivered"]))] = rng.randint(1, 30)
            if key in batch:  # one row per key and transaction, as `stage` is given
                batch[key] = [a + b for a, b in zip(batch[key], counts, strict=True)]
            else:
                batch[key] = counts
        out.append(batch)
    return out


async def main(o: Options) -> dict[str, Any]:
    doc = await header("folding-sqlite", o)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/herald.db"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                app = uuid.UUID(str((await create_app(session, "busy", "pepper")).app_id))
            folder, rng = Folder(engine, interval=0, batch=10_000), random.Random(22)
            hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            walls: list[float] = []
            loop_cpu: list[float] = []
            all_cpu: list[float] = []
            folded, staged = 0, [0] * len(COUNTERS)
            for n in range(o.folds + 20):  # the first 20 warm up
                for batch in _second(app, hour, o, rng):
                    async with engine.begin() as conn:
                        await stage(conn, batch)
                    for counts in batch.values():
                        staged = [a + b for a, b in zip(staged, counts, strict=True)]
                t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
                got = await folder.once()
                wall, loop, proc = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - p0
                if n >= 20:
                    walls.append(wall * 1e6)
                    loop_cpu.append(loop * 1e6)
                    all_cpu.append(proc * 1e6)
                    folded += got
            doc["exact"] = await _exact(engine, staged)
        finally:
            await engine.dispose()
    doc["fold_us"] = {
        "wall": percentiles(walls),
        "wall_mean": sum(walls) / len(walls),
        "loop_cpu_mean": sum(loop_cpu) / len(loop_cpu),
        "process_cpu_mean": sum(all_cpu) / len(all_cpu),
    }
    doc["rows_per_fold"] = folded / o.folds
    f = doc["fold_us"]
    print(
        f"[folding] {doc['rows_per_fold']:.0f} staged rows a fold: wall {f['wall_mean']:.0f} µs mean"
        f" (p50 {f['wall']['p50']:.0f}, p99 {f['wall']['p99']:.0f}); event loop's CPU {f['loop_cpu_mean']:.0f} µs,"
        f" the process's {f['process_cpu_mean']:.0f} µs; counts {'exact' if doc['exact'] else 'WRONG'}"
    )
    return doc


async def _exact(engine: AsyncEngine, staged: list[int]) -> bool:
    """Every staged count is in the hourly combinations and in the app's monthly total, once."""
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    async with engine.connect() as conn:
        hourly = list((await conn.execute(text(f"SELECT {sums} FROM analytics_hourly"))).one())
        total = list(
            (await conn.execute(text(f"SELECT {sums} FROM analytics_monthly_levels WHERE level = 'all'"))).one()
        )
        left = (await conn.execute(text("SELECT count(*) FROM analytics_pending"))).scalar_one()
    return hourly == staged and total == staged and left == 0


def cli(argv: list[str] | None = None) -> int:
    o = parse(sys.argv[1:] if argv is None else argv)
    doc = asyncio.run(main(o))
    print(f"results: {save(doc, o.results_dir)}")
    return 0 if doc["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(cli())
