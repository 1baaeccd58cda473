"""`python -m bench` (what `make bench` runs with --short): Herald's throughput and latency,
side by side with a Celery baseline and the raw floor. See bench/run.py for the phases.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.deploy import Tuning
from bench.report import render, save, targets
from bench.run import Options, run


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--backend", choices=["postgres", "sqlite", "both", "none"], default="both", help="Herald's")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per phase (not with --short)")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--rate", type=float, help="open loop at this many deliveries/s instead of flat out")
    load.add_argument("--max", action="store_true", help="closed loop, as fast as the system delivers (default)")
    p.add_argument("--steady-rate", type=float, default=1000.0, help="the latency phase's rate (deliveries/s)")
    p.add_argument("--mode", choices=["batch", "single", "both"], default="batch", help="both: throughput twice")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--latency-ms", type=float, default=20.0, help="simulated provider round trip")
    p.add_argument("--api-procs", type=int, default=1)
    p.add_argument("--worker-procs", type=int, default=1, help="worker processes per channel")
    p.add_argument("--worker-concurrency", type=int, help="in-flight sends per worker (Herald default 256)")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--ios-share", type=float, default=0.5, help="share of users whose device is iOS (APNs)")
    p.add_argument("--celery", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--celery-procs", type=int, default=2, help="Celery worker processes")
    p.add_argument("--celery-concurrency", type=int, default=32, help="threads per Celery worker process")
    p.add_argument("--celery-pool", default="threads")
    p.add_argument("--celery-prefetch", type=int, default=4)
    p.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--short", action="store_true", help="about a minute in all (what `make bench` runs)")
    p.add_argument("--warmup", type=float, help="seconds excluded at the start of each phase")
    p.add_argument("--backlog", type=int, default=5000, help="flat out: at most this many accepted, not yet sent")
    p.add_argument("--private", action="store_true", help="private PostgreSQL and Redis instead of the shared ones")
    p.add_argument("--soak", type=int, default=0, help="then this many deliveries flat out (worker RSS over time)")
    p.add_argument(
        "--wait-quiet", type=float, default=0.0, help="first wait up to this many seconds for an idle machine"
    )
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    a = p.parse_args(argv)
    tuning = Tuning(
        api_procs=a.api_procs,
        worker_procs=a.worker_procs,
        worker_concurrency=a.worker_concurrency,
        celery_procs=a.celery_procs,
        celery_concurrency=a.celery_concurrency,
        celery_pool=a.celery_pool,
        celery_prefetch=a.celery_prefetch,
    )
    return Options(
        backends={"both": ["postgres", "sqlite"], "none": []}.get(a.backend, [a.backend]),
        duration=a.duration,
        rate=a.rate,
        steady_rate=a.steady_rate,
        mode=a.mode,
        batch_size=a.batch_size,
        latency_ms=a.latency_ms,
        users=a.users,
        ios_share=a.ios_share,
        celery=a.celery,
        floor=a.floor,
        short=a.short,
        warmup=a.warmup,
        backlog=a.backlog,
        private=a.private,
        wait_quiet=a.wait_quiet,
        soak=a.soak,
        results_dir=a.results,
        tuning=tuning,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    doc = run(options)
    doc["targets"] = targets(doc)
    render(doc)
    path = save(doc, options.results_dir)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
