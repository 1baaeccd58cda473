"""The bench's output: one table of every figure, the issue's targets marked met or missed,
and the whole document as JSON in bench/results/<timestamp>.json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.table import Table

Run = dict[str, Any]
# Redis, PostgreSQL's background processes and the kernel's loopback work account for about
# 0.1-0.2 cores on an otherwise idle machine; more means someone else is using it.
NOISY_CORES = 0.3


def _find(runs: list[Run], system: str, phase: str | None = None) -> Run | None:
    for r in runs:
        if r["system"] == system and (phase is None or r["phase"] == phase):
            return r
    return None


def _first_flat_out(runs: list[Run], system: str) -> Run | None:
    """The throughput run of a system: its first phase (flat out, or at --rate)."""
    return next((r for r in runs if r["system"] == system), None)


def _check(name: str, value: float | None, ok: bool | None, shown: str, note: str = "") -> dict[str, Any]:
    status = "not run" if ok is None else ("MET" if ok else "MISSED")
    return {"target": name, "value": value, "shown": shown, "status": status, "note": note}


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each against the figure that decides it."""
    runs: list[Run] = doc.get("runs", [])
    steady = doc["options"].get("steady_rate", "1000.0")
    out = []
    pg, celery = _first_flat_out(runs, "herald-pg"), _first_flat_out(runs, "celery")
    pg_tp = pg["deliveries_per_s"] if pg else None
    out.append(_check("PG+Redis design mix >= 2,000 deliveries/s", pg_tp, _at_least(pg_tp, 2000), _n(pg_tp)))
    floor = (doc.get("floor") or {}).get("per_delivery")
    cpu = pg.get("system_cpu_ms_per_delivery") if pg else None
    if floor and cpu:
        ratio = cpu * 1000 / floor["batched_us"]
        out.append(
            _check(
                "Herald CPU per delivery <= 1.5x floor", ratio, ratio <= 1.5, f"{ratio:.1f}x", _floor_note(cpu, floor)
            )
        )
    else:
        out.append(_check("Herald CPU per delivery <= 1.5x floor", None, None, "-"))
    if pg and celery:
        ratio = pg["deliveries_per_s"] / max(1e-9, celery["deliveries_per_s"])
        out.append(_check("Herald/Celery throughput >= 5x", ratio, ratio >= 5, f"{ratio:.1f}x"))
    else:
        out.append(_check("Herald/Celery throughput >= 5x", None, None, "-"))
    common = doc.get("common_rate")
    h_c = _find(runs, "herald-pg", f"@{common:.0f}") if common else None
    c_c = _find(runs, "celery", f"@{common:.0f}") if common else None
    if h_c and c_c and h_c["a2p_ms"]["p99"] and c_c["a2p_ms"]["p99"]:
        hp, cp = h_c["a2p_ms"]["p99"], c_c["a2p_ms"]["p99"]
        note = f"at {common:.0f}/s: Herald {hp:.0f} ms, Celery {cp:.0f} ms (ratio {hp / cp:.2f})"
        out.append(_check("Herald p99 < Celery p99 at the same load", hp / cp, hp < cp, f"{hp / cp:.2f}", note))
    else:
        out.append(_check("Herald p99 < Celery p99 at the same load", None, None, "-"))
    st = _find(runs, "herald-pg", f"@{float(steady):.0f}")
    p50 = st["a2p_arrival_ms"]["p50"] if st else None
    p99 = st["a2p_arrival_ms"]["p99"] if st else None
    note = "until the simulator had it: stamped on arrival, before its injected latency"
    if st:
        note += f"; incl. latency p50 {st['a2p_ms']['p50']:.0f} / p99 {st['a2p_ms']['p99']:.0f} ms" if p50 else ""
    out.append(
        _check(f"accept->provider @{float(steady):.0f}/s p50 <= 20 ms", p50, p50 <= 20 if p50 else None, _ms(p50), note)
    )
    out.append(
        _check(
            f"accept->provider @{float(steady):.0f}/s p99 <= 100 ms", p99, p99 <= 100 if p99 else None, _ms(p99), note
        )
    )
    sq = _first_flat_out(runs, "herald-sqlite")
    sq_tp = sq["deliveries_per_s"] if sq else None
    out.append(_check("embedded SQLite >= 1,000 deliveries/s", sq_tp, _at_least(sq_tp, 1000), _n(sq_tp)))
    soak = next((r for r in runs if r["phase"].startswith("soak")), None)
    out.append(_soak_check(soak))
    return out


def _soak_check(soak: Run | None) -> dict[str, Any]:
    """Flat: the worker's RSS grew under 10% from a quarter of the way in to the end, peak < 250 MB."""
    name = "soak: worker RSS flat and < 250 MB"
    series = soak["rss_timeline_mb"].get("worker", []) if soak else []
    if not soak or len(series) < 4:
        return _check(name, None, None, "-", "run with --soak 1000000")
    early, late = series[len(series) // 4][1], series[-1][1]
    peak = soak["peak_rss_mb"]["worker"]
    growth = (late - early) / early
    note = f"{soak['accepted_total']} deliveries; worker RSS {early:.0f} -> {late:.0f} MB, peak {peak:.0f} MB"
    return _check(name, peak, peak < 250 and growth < 0.10, f"{peak:.0f} MB", note)


def _floor_note(cpu_ms: float, floor: dict[str, float]) -> str:
    return (
        f"Herald {cpu_ms * 1000:.0f} µs vs floor {floor['batched_us']:.0f} µs ({floor['unbatched_us']:.0f} unbatched)"
    )


def _at_least(value: float | None, target: float) -> bool | None:
    """Met, missed, or not measured (None)."""
    return None if value is None else value >= target


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _mb(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _pct(run: Run, key: str, q: str) -> str:
    return _ms(run.get(key, {}).get(q))  # a figure an older result file does not have: "-"


def _cpu(run: Run, kind: str) -> str:
    v = run["cpu_s_per_1k"].get(kind)
    return "-" if v is None else f"{v:.2f}"


def _unrecorded(run: Run) -> str:
    u = run.get("unrecorded", {})
    return f"{_ms(u.get('mean_in_flight'))} / {_ms(u.get('mean_ms'))}"


def _folding(run: Run) -> str:
    f = run.get("folding", {})
    return f"{_ms(f.get('ms_per_s'))} / {_ms(f.get('mean_ms'))}"


def _per_message(run: Run, channel: str) -> str:
    return _ms(run.get("worker_cpu_ms_per_message", {}).get(channel))


ROWS: list[tuple[str, Any]] = [
    ("offered (deliveries/s)", lambda r: _n(r["offered_rate"]) if r["offered_rate"] else "max"),
    ("deliveries/s (at simulators)", lambda r: _n(r["deliveries_per_s"])),
    ("accepted / missing / dup", lambda r: f"{r['accepted_total']} / {r['missing_after_drain']} / {r['duplicates']}"),
    ("errors", lambda r: ", ".join(f"{k}:{v}" for k, v in r["errors"].items()) or "0"),
    ("accept ms p50/p95/p99", lambda r: "/".join(_pct(r, "accept_ms", q) for q in ("p50", "p95", "p99"))),
    ("accept->provider ms p50/p95/p99", lambda r: "/".join(_pct(r, "a2p_ms", q) for q in ("p50", "p95", "p99"))),
    (
        "  at arrival (before sim latency) p50/p99",
        lambda r: "/".join(_pct(r, "a2p_arrival_ms", q) for q in ("p50", "p99")),
    ),
    (
        "  received minus sim latency p50/p99",
        lambda r: "/".join(_pct(r, "a2p_received_less_latency_ms", q) for q in ("p50", "p99")),
    ),
    ("accept->first provider call ms, mean", lambda r: _ms(r.get("accept_to_send_mean_ms", {}).get("all"))),
    ("sends unrecorded at any moment / ms each", _unrecorded),
    ("analytics folding ms per s / ms each", _folding),
    ("system CPU ms/delivery", lambda r: _ms(r["system_cpu_ms_per_delivery"])),
    ("  + its PostgreSQL backends", lambda r: _ms(r["system_and_db_cpu_ms_per_delivery"])),
    ("machine busy % / unattributed cores", lambda r: f"{r['machine_busy_pct']:.0f}% / {r['unattributed_cores']:.2f}"),
]
KINDS = ["api", "worker", "relay", "scheduler", "run", "postgres", "sandbox", "driver"]


def notes(doc: dict[str, Any]) -> str:
    o = doc["options"]
    lines = [
        f"mix push:sms:email = 10:1:5, {o['users']} users, iOS share {o['ios_share']},"
        f" provider latency {o['latency_ms']} ms; accept = the server's created_at, provider = the simulator's"
        " receipt (after its latency); CPU and deliveries/s over the window after warm-up.",
    ]
    for f in doc.get("failures", []):
        lines.append(f"FAILED: {f['part']}: {f['error'][:200]}")
    if doc.get("apns_problem"):
        lines.append(f"APNs unusable in this run ({doc['apns_problem'][:100]}): every push device is Android (FCM).")
    shared = [f"{r['system']} {r['phase']}" for r in doc.get("runs", []) if r["unattributed_cores"] > NOISY_CORES]
    if shared:
        lines.append(
            f"NOT A CLEAN MEASUREMENT: {', '.join(shared)} shared the machine with other work (more than"
            f" {NOISY_CORES} cores used by processes not measured here): throughput/latency understated."
        )
    if doc.get("common_rate"):
        lines.append(
            f"common load for the p99 comparison: {doc['common_rate']:.0f} deliveries/s (80% of Celery's best)."
        )
    return "\n".join(lines)


def table(doc: dict[str, Any]) -> Table:
    runs: list[Run] = doc.get("runs", [])
    m = doc["machine"]
    title = f"Herald bench ({m['cpus']} CPUs, {m['busy_before_pct']:.0f}% busy before start, {doc['elapsed_s']} s)"
    t = Table(title=title, show_lines=False, caption=notes(doc), caption_justify="left")
    t.add_column("figure", style="bold")
    for r in runs:
        t.add_column(f"{r['system']}\n{r['phase']} {r['mode']}", justify="right")
    for name, cell in ROWS:
        t.add_row(name, *(cell(r) for r in runs))
    t.add_section()
    for kind in KINDS:
        if any(kind in r["cpu_s_per_1k"] for r in runs):
            t.add_row(f"CPU s / 1k deliveries: {kind}", *(_cpu(r, kind) for r in runs))
    for channel in ("push", "email", "sms"):
        if any(channel in r.get("worker_cpu_ms_per_message", {}) for r in runs):
            t.add_row(f"  worker ms / {channel} message", *(_per_message(r, channel) for r in runs))
    for kind in KINDS:
        if any(kind in r["peak_rss_mb"] for r in runs):
            t.add_row(f"peak RSS MB: {kind}", *(_mb(r["peak_rss_mb"].get(kind)) for r in runs))
    return t


def floor_table(doc: dict[str, Any]) -> Table | None:
    floor = doc.get("floor")
    if not floor:
        return None
    t = Table(title="Raw floor (client CPU per operation) and targets")
    t.add_column("figure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("status")
    for op in floor["ops"].values():
        if "error" in op:
            t.add_row(op["op"], "-", f"[red]failed[/red]: {op['error'][:90]}")
        else:
            t.add_row(op["op"], f"{op['cpu_us']:.0f} µs CPU ({op['wall_us']:.0f} µs wall)", "")
    per = floor["per_delivery"]
    t.add_row("floor per delivery (batched row write)", f"{per['batched_us']:.0f} µs", "")
    t.add_row("floor per delivery (unbatched)", f"{per['unbatched_us']:.0f} µs", "")
    return t


def render(doc: dict[str, Any], console: Console | None = None) -> None:
    """Print the table and the targets."""
    console = console or Console(width=max(160, 24 + 22 * len(doc.get("runs", []))))
    console.print(table(doc))
    ft = floor_table(doc) or Table(title="Targets")
    if not ft.columns:
        ft.add_column("figure", style="bold")
        ft.add_column("value", justify="right")
        ft.add_column("status")
    ft.add_section()
    for c in doc["targets"]:
        style = {"MET": "green", "MISSED": "red"}.get(c["status"], "yellow")
        note = f" ({c['note']})" if c["note"] else ""
        ft.add_row(c["target"], c["shown"], f"[{style}]{c['status']}[/{style}]{note}")
    console.print(ft)


def save(doc: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path


class _Options(Protocol):
    results_dir: Path


OptionsT = TypeVar("OptionsT", bound=_Options)


def run_bench(
    argv: list[str] | None,
    parse: Callable[[list[str]], OptionsT],
    main: Callable[[OptionsT], Coroutine[Any, Any, dict[str, Any]]],
    targets: Callable[[dict[str, Any]], Any],
    render: Callable[[dict[str, Any]], None],
) -> int:
    """A self-contained bench's command line: parse, run on uvloop, judge the targets, print
    and save the result document."""
    import uvloop

    o = parse(sys.argv[1:] if argv is None else argv)
    doc: dict[str, Any] = uvloop.run(main(o))
    doc["targets"] = targets(doc)
    render(doc)
    print(f"results: {save(doc, o.results_dir)}")
    return 0
