"""`python -m bench.tracking_http`: the open pixel and the click redirect on one API process (issue
22: >= 3,000 requests/s with p99 <= 20 ms), PostgreSQL + Redis.

One API process (bench/api_stack.py) with sent email deliveries in its log; tokens minted with
Herald's own codec and the deployment's secret key, as the send path mints them. Generator
processes (bench/http_load.py) fetch `/t/o/{token}` and `/t/c/{token}` in turn, every URL once
(an open token per delivery, a click token per delivery and link), so every request is an
event Herald must record. Steps at a fixed open-loop rate (latency counted from when each
request was due, so a server falling behind shows as latency), then flat out (closed loop).
After the last step and the recorder's flush, the engagement counts must be exactly the
answered requests (200 for a pixel, 302 for a redirect).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api_stack import (
    OPEN_LOOP_EDGES,
    Sent,
    Stack,
    fold_rollups,
    generate,
    scalar_rows,
    seed,
    split,
    start,
    window_figures,
)
from bench.report import run_bench
from bench.run import machine_busy, versions
from herald.tracking.tokens import Kind, TokenCodec

REPO = Path(__file__).resolve().parent.parent
RequestSpec = tuple[str, str, dict[str, str], str]
LINKS = 8


@dataclass
class Options:
    rates: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 4000.0)
    step: float = 8.0
    warmup: float = 1.0
    flat_out: float = 8.0
    generators: int = 2
    concurrency: int = 64
    deliveries: int = 64_000
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.tracking_http", description=__doc__)
    p.add_argument("--rates", default="1000,2000,3000,4000", help="open-loop steps, requests/s")
    p.add_argument("--step", type=float, default=8.0, help="seconds per step")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of each step left out")
    p.add_argument("--flat-out", type=float, default=8.0, help="seconds flat out (0: none)")
    p.add_argument("--generators", type=int, default=2, help="generator processes")
    p.add_argument("--concurrency", type=int, default=64, help="flat out: requests in flight (all generators)")
    p.add_argument("--deliveries", type=int, default=64_000, help="email deliveries (one open URL each)")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    rates = tuple(float(x) for x in a.rates.split(",") if x)
    return Options(rates, a.step, a.warmup, a.flat_out, a.generators, a.concurrency, a.deliveries, a.results)


def urls(codec: TokenCodec, sent: list[Sent]) -> list[RequestSpec]:
    """Alternately a delivery's pixel and one of its links (each URL once)."""
    out: list[RequestSpec] = []
    headers = {"User-Agent": "Mozilla/5.0 (bench)"}
    for i, d in enumerate(sent):
        out.append(("GET", f"/t/o/{codec.seal(Kind.OPEN, d.id)}", headers, ""))
        link = f"https://shop.example/p/{i % LINKS}?utm_source=email&n={i}"
        out.append(("GET", f"/t/c/{codec.seal(Kind.CLICK, d.id, link)}", headers, ""))
    return out


async def counts(stack: Stack) -> dict[str, int]:
    rows = await scalar_rows(
        stack,
        "SELECT kind, coalesce(sum(count), 0), count(*) FROM engagements GROUP BY kind",
    )
    out = {f"{k}": int(n) for k, n, _ in rows} | {f"{k}_deliveries": int(u) for k, _, u in rows}
    events = await scalar_rows(stack, "SELECT kind, count(*) FROM delivery_events GROUP BY kind")
    out |= {f"events_{k}": int(n) for k, n in events}
    await fold_rollups(stack)
    hourly = await scalar_rows(
        stack, "SELECT coalesce(sum(opened), 0), coalesce(sum(clicked), 0) FROM analytics_hourly"
    )
    out["rollup_opened"], out["rollup_clicked"] = int(hourly[0][0]), int(hourly[0][1])
    return out


async def main(o: Options) -> dict[str, Any]:
    busy = await machine_busy()
    doc: dict[str, Any] = {
        "system": "tracking_http",
        "started_at": datetime.now(UTC).isoformat(),
        "busy_before_pct": round(100 * busy, 1),
        "options": {k: str(v) for k, v in asdict(o).items()},
    }
    workdir = Path(tempfile.mkdtemp(prefix="herald-tracking-"))
    started = time.time()
    stack = await start(workdir)
    try:
        codec = TokenCodec(stack.secret_key)
        sent = await seed(stack, "email", "sendgrid", o.deliveries, "track")
        requests = urls(codec, sent)
        print(f"[tracking] {len(sent):,} sent deliveries, {len(requests):,} tracking URLs")
        # Unmeasured: every code path once.
        warm_sent = await seed(stack, "email", "sendgrid", 300, "warm")
        _, _, fut = await generate(workdir, stack.base_url, [urls(codec, warm_sent)], duration=10, name="warm")
        results = [await fut]
        pos = 0
        steps: list[tuple[str, float | None, float]] = [(f"{r:.0f}/s", r, o.step) for r in o.rates]
        if o.flat_out > 0:
            steps.append(("flat out", None, o.flat_out))
        doc["steps"] = {}
        for name, rate, seconds in steps:
            need = int((rate or 8000) * seconds * 1.05)
            share = requests[pos : pos + need]
            if not share:
                print("[tracking] out of URLs: more --deliveries")
                break
            pos += len(share)
            _, _, fut = await generate(
                workdir,
                stack.base_url,
                split(share, o.generators),
                duration=seconds,
                rate=rate,
                concurrency=o.concurrency,
                name=f"step-{len(doc['steps'])}",
            )
            cpu0 = stack.cpu()
            g = await fut
            cpu1 = stack.cpu()
            results.append(g)
            f = window_figures(g, [1] * len(share), o.warmup, seconds, ok=(200, 302), from_due=rate is not None)
            f["offered_per_s"] = rate
            f["api_cpu_ms_per_request"] = (cpu1["api"] - cpu0["api"]) / max(1, len(g.rows)) * 1000
            doc["steps"][name] = f
            lat = f["latency_ms"]
            print(
                f"[tracking] {name}: {f['requests_per_s']:,.0f} requests/s, p50 {lat['p50'] or 0:.1f} ms,"
                f" p99 {lat['p99'] or 0:.1f} ms, generators {f['generator_cores']:.2f} cores, {f['statuses']}"
            )
        answered = {"opened": 0, "clicked": 0}
        for g in results:
            for _, _, _, _, status in g.rows:
                if status == 200:
                    answered["opened"] += 1
                elif status == 302:
                    answered["clicked"] += 1
        # The recorder writes every few milliseconds: wait until the counts stop moving.
        got, deadline = await counts(stack), time.monotonic() + 20
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = await counts(stack)
            if now == got and got.get("opened", 0) >= answered["opened"]:
                break
            got = now
        want = {
            "opened": answered["opened"],
            "clicked": answered["clicked"],
            "events_opened": answered["opened"],
            "events_clicked": answered["clicked"],
            "rollup_opened": answered["opened"],
            "rollup_clicked": answered["clicked"],
        }
        bad = {k: {"expected": v, "found": got.get(k, 0)} for k, v in want.items() if got.get(k, 0) != v}
        doc["check"] = {"ok": not bad, "mismatches": bad, "expected": want, "found": got}
    finally:
        await stack.stop()
    doc["elapsed_s"] = round(time.time() - started, 1)
    doc["versions"] = versions()
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's target: some step at >= 3,000 requests/s achieved with p99 <= 20 ms."""
    best: tuple[float, float] | None = None
    for f in doc.get("steps", {}).values():
        p99 = f["latency_ms"]["p99"]
        if p99 is not None and p99 <= 20 and (best is None or f["requests_per_s"] > best[0]):
            best = (f["requests_per_s"], p99)
    ok = best is not None and best[0] >= 3000 * OPEN_LOOP_EDGES
    shown = "-" if best is None else f"{best[0]:,.0f} requests/s with p99 {best[1]:.1f} ms"
    check = doc.get("check", {})
    return [
        {
            "target": "open pixel and click redirect >= 3,000 requests/s, p99 <= 20 ms, one API process",
            "value": None if best is None else best[0],
            "shown": shown,
            "status": "MET" if ok else "MISSED",
        },
        {
            "target": "engagement counts, events and rollups exactly the answered requests",
            "value": None,
            "shown": "exact" if check.get("ok") else f"mismatches: {check.get('mismatches')}",
            "status": "MET" if check.get("ok") else "MISSED",
        },
    ]


def render(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Herald open pixel + click redirect, one API process ({doc['busy_before_pct']:.0f}% busy before)")
    for col in ("step", "achieved/s", "p50 ms", "p99 ms", "max ms", "API CPU ms/request", "generator cores", "answers"):
        t.add_column(col, justify="right")
    for name, f in doc.get("steps", {}).items():
        lat = f["latency_ms"]
        t.add_row(
            name,
            f"{f['requests_per_s']:,.0f}",
            f"{lat['p50'] or 0:.1f}",
            f"{lat['p99'] or 0:.1f}",
            f"{lat['max'] or 0:.1f}",
            f"{f['api_cpu_ms_per_request']:.3f}",
            f"{f['generator_cores']:.2f}",
            str(f["statuses"]),
        )
    Console(width=140).print(t)
    for x in targets(doc):
        print(f"  {x['target']}: {x['shown']} -> {x['status']}")


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
