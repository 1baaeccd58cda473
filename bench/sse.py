"""`python -m bench.sse`: the in-app channel's live stream (issue 21's targets): one API process
holding N end users' Server-Sent Events streams, what each costs in memory and idle CPU, and how
long an item takes from acceptance to its user's stream at 500 notifications/s.

Phases, on one deployment (PostgreSQL + Redis: `herald api --workers 1`, an `in_app` worker,
relay and scheduler; or `herald run` on SQLite):
1. warm-up (unmeasured): a few notifications and a few streams, so every code path is loaded;
   then the API's idle CPU without streams, and its RSS;
2. connect: a listener process (bench/sse_listen.py) opens N streams and every one must get its
   first `counts` event; the API's RSS again: memory per stream = the difference / N;
3. idle: the streams held, nothing sent (Herald pings each every 15 s): the CPU that costs;
4. load: in-app notifications at the given rate, user n % N each, and for each the time from
   its acceptance (the server's `created_at`, set before the commit, so an upper bound) to the
   first arrival of its `item` event at the listener (stamped as its bytes are read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt

from bench.cluster import Postgres, Proc, Redis, SandboxProcess, free_port
from bench.deploy import Deployment, Tuning, herald_postgres, herald_sqlite
from bench.drive import Driver, Load, population
from bench.measure import WAIT_METRIC, Machine, Measured, Meter, PgBackends, Waits, parse_waits, percentiles
from bench.report import run_bench
from bench.run import machine_busy, versions
from bench.sse_listen import raise_nofile

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "bench-inbox"
# `data.for` names the user the item was meant for: the listener checks it against the stream.
TEMPLATE_CHANNELS = {
    "in_app": {
        "title": "Order {{ order_id }} shipped",
        "body": "Hi {{ user.name }}, your order is on its way.",
        "action_url": "https://shop.example/orders/{{ order_id }}",
        "data": {"for": "{{ user.id }}", "order": "{{ order_id }}"},
    }
}
TOKEN_TTL = 6 * 3600
# Herald's own histograms that split an item's way: acceptance to the worker's call of the
# sink, and that call (the item's write, its counts, the event's publication): (metric, label).
PARTS = {"accept_to_call": (WAIT_METRIC, "channel"), "call": ("herald_provider_call_seconds", "provider")}


@dataclass
class Options:
    backend: str = "postgres"
    connections: int = 5000
    rate: float = 500.0
    duration: float = 20.0
    batch_size: int = 10
    warmup: float = 2.0
    idle: float = 30.0
    listeners: int = 1
    connect_concurrency: int = 200
    private: bool = False
    wait_quiet: float = 0.0
    results_dir: Path = REPO / "bench" / "results"


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.sse", description=__doc__)
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--connections", type=int, default=5000, help="concurrent streams (one user each)")
    p.add_argument("--rate", type=float, default=500.0, help="in-app notifications/s in the load phase")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    p.add_argument("--batch-size", type=int, default=10, help="notifications per request (1: the single endpoint)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load left out of the latency and CPU")
    p.add_argument("--idle", type=float, default=30.0, help="seconds the idle streams are measured (pings: 15 s)")
    p.add_argument("--listeners", type=int, default=1, help="processes holding the streams")
    p.add_argument("--connect-concurrency", type=int, default=200, help="streams opening at once")
    p.add_argument("--private", action="store_true", help="private PostgreSQL and Redis instead of the shared ones")
    p.add_argument("--wait-quiet", type=float, default=0.0, help="first wait up to this long for an idle machine")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    return Options(
        a.backend,
        a.connections,
        a.rate,
        a.duration,
        a.batch_size,
        a.warmup,
        a.idle,
        a.listeners,
        a.connect_concurrency,
        a.private,
        a.wait_quiet,
        a.results,
    )


# -- the arithmetic (tests/unit/test_sse_bench.py) --


def per_connection(before: int, after: int, connections: int) -> float | None:
    """Bytes each stream added to the process's RSS."""
    return (after - before) / connections if connections else None


def cores(cpu0: dict[str, float], cpu1: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU used per process type between two snapshots, in cores (1.0 = one core all along)."""
    return {k: (cpu1[k] - cpu0.get(k, 0.0)) / seconds for k in cpu1} if seconds > 0 else {}


def merge_status(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The listeners' statuses as one: counts summed, failures merged, the last stream's time."""
    out: dict[str, Any] = {"failures": {}}
    for part in parts:
        for k, v in part.items():
            if k == "failures":
                for reason, n in v.items():
                    out["failures"][reason] = out["failures"].get(reason, 0) + n
            elif k in ("connect_started", "nofile"):
                out[k] = v if k not in out else min(out[k], v)
            elif k == "all_counted_at":
                out[k] = None if v is None or (k in out and out[k] is None) else max(out.get(k, v), v)
            else:
                out[k] = out.get(k, 0) + v
    return out


def latencies(
    accepted: dict[str, tuple[float, str]], arrivals: dict[str, tuple[float, str]], start: float, end: float
) -> dict[str, Any]:
    """Acceptance to first arrival, in ms, of the items accepted in [start, end]; and how many
    of all accepted items never arrived, whenever they were accepted."""
    ms = []
    missing = 0
    for key, (accepted_at, _) in accepted.items():
        got = arrivals.get(key)
        if got is None:
            missing += 1
        elif start <= accepted_at <= end:
            ms.append((got[0] - accepted_at) * 1000)
    mean = sum(ms) / len(ms) if ms else None
    return {"latency_ms": percentiles(ms), "mean_ms": mean, "missing": missing, "accepted": len(accepted)}


def split_means(s0: dict[str, tuple[float, float]], s1: dict[str, tuple[float, float]]) -> dict[str, float | None]:
    """Each part's mean, in ms, over what its histogram counted between two scrapes."""
    out: dict[str, float | None] = {}
    for part, (seconds, count) in s1.items():
        seconds0, count0 = s0.get(part, (0.0, 0.0))
        out[part] = (seconds - seconds0) / (count - count0) * 1000 if count > count0 else None
    return out


# -- the parts --


async def mint_tokens(dep: Deployment, user_ids: list[str]) -> list[tuple[str, str]]:
    """Tokens for every user, signed here with the app's end-user key, as an app's backend
    would: N API calls would measure the token endpoint, not the stream."""
    async with httpx.AsyncClient(base_url=dep.base_url, auth=dep.auth, timeout=30) as client:
        r = await client.get("/v1/end-user-key")
        r.raise_for_status()
        key = r.json()
        r = await client.put(f"/v1/templates/{TEMPLATE}", json={"channels": TEMPLATE_CHANNELS})
        r.raise_for_status()
    now = int(time.time())
    claims = {"iss": key["issuer"], "iat": now, "exp": now + TOKEN_TTL}
    return [(u, jwt.encode({**claims, "sub": u}, key["key"], algorithm="HS256")) for u in user_ids]


class Listeners:
    """The listener processes, each holding a share of the streams."""

    def __init__(self, procs: list[Proc], controls: list[str], shares: list[Path]) -> None:
        self.procs = procs
        self._controls = controls
        self._shares = shares  # the token files: removed once the listeners are gone
        self._client = httpx.AsyncClient(timeout=120)

    @classmethod
    async def start(cls, workdir: Path, base_url: str, tokens: list[tuple[str, str]], o: Options) -> Listeners:
        procs, controls, shares = [], [], []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        for i in range(o.listeners):
            share = workdir / f"tokens-{i}.json"
            share.touch(mode=0o600)
            share.write_text(json.dumps(tokens[i :: o.listeners]))
            shares.append(share)
            port = free_port()
            args = [sys.executable, "-m", "bench.sse_listen", "--base-url", base_url, "--tokens", str(share)]
            args += ["--control-port", str(port), "--concurrency", str(max(1, o.connect_concurrency // o.listeners))]
            control = f"http://127.0.0.1:{port}"
            procs.append(Proc("listener", args, env, workdir / f"listener-{i}.log", ready_url=f"{control}/health"))
            controls.append(control)
        listeners = cls(procs, controls, shares)
        try:
            await asyncio.gather(*(p.start() for p in procs))
        except BaseException:
            await listeners.stop()
            raise
        return listeners

    async def _each(self, method: str, path: str) -> list[Any]:
        async def one(control: str) -> Any:
            r = await self._client.request(method, control + path)
            r.raise_for_status()
            return r.json()

        return list(await asyncio.gather(*(one(c) for c in self._controls)))

    async def connect(self) -> None:
        await self._each("POST", "/connect")

    async def status(self) -> dict[str, Any]:
        return merge_status(await self._each("GET", "/status"))

    async def arrivals(self) -> dict[str, tuple[float, str]]:
        return {k: (t, u) for part in await self._each("GET", "/arrivals") for k, t, u in part["arrivals"]}

    async def stop(self) -> None:
        try:
            await self._each("POST", "/close")
        except httpx.HTTPError as exc:
            print(f"[sse] closing the listeners failed: {exc!r}", file=sys.stderr)
        await asyncio.gather(*(p.terminate(timeout=10) for p in self.procs))
        await self._client.aclose()
        for share in self._shares:
            share.unlink(missing_ok=True)


async def warm(dep: Deployment, tokens: list[tuple[str, str]], auth: tuple[str, str]) -> None:
    """Unmeasured: notifications through the whole path and a few streams opened and closed,
    so the RSS before the streams already holds every module and pool they use."""
    async with Driver(
        dep.base_url,
        auth,
        len(tokens),
        f"warm-{uuid.uuid4().hex[:6]}",
        batch_size=10,
        template=TEMPLATE,
        channels=["in_app"],
    ) as driver:
        await driver.run_rate(100.0, 2.0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one(token: str) -> None:
            async with session.get(f"{dep.base_url}/v1/me/feed/stream", params={"token": token}) as resp:
                resp.raise_for_status()
                async for line in resp.content:
                    if line.startswith(b"event: counts"):
                        return

        await asyncio.gather(*(one(t) for _, t in tokens[:20]))
    await asyncio.sleep(2.0)


async def scrape(dep: Deployment) -> dict[str, tuple[float, float]]:
    """The in-app series of each of PARTS, summed over every process that sends: (sum s, count)."""
    headers = {"Authorization": f"Bearer {dep.metrics_token}"} if dep.metrics_token else {}
    async with httpx.AsyncClient(timeout=5, headers=headers) as client:
        pages = [(await client.get(url)).text for url in dep.metrics_urls]
    out = {}
    for part, (metric, label) in PARTS.items():
        into: Waits = {}
        for page in pages:
            parse_waits(page, into, metric, label)
        out[part] = into.get("in_app", (0.0, 0.0))
    return out


def rss(procs: list[Proc]) -> int:
    return sum(p.rss_bytes() for p in procs)


def meter_parts(dep: Deployment, listeners: Listeners) -> dict[str, list[Measured]]:
    parts: dict[str, list[Measured]] = {k: [*ps] for k, ps in dep.procs.items()}
    parts |= {"listener": [*listeners.procs], "machine": [Machine()]}
    if dep.name != "herald-sqlite":
        parts["postgres"] = [PgBackends(dep.settings["database"])]
    return parts


async def wait_until(check: Callable[[dict[str, Any]], bool], listeners: Listeners, timeout: float) -> dict[str, Any]:
    """Poll the listeners until `check(status)` holds, or no item/stream progress for 10 s, or `timeout`."""
    deadline, progress, last = time.monotonic() + timeout, time.monotonic(), (-1, -1)
    while True:
        status = await listeners.status()
        if check(status) or time.monotonic() > deadline:
            return status
        now = (status["counted"], status["items"])
        if now != last:
            last, progress = now, time.monotonic()
        elif time.monotonic() - progress > 10.0:
            return status
        await asyncio.sleep(0.25)


async def measure_idle(meter: Meter, seconds: float) -> dict[str, float]:
    cpu0 = meter.cpu()
    await asyncio.sleep(seconds)
    return cores(cpu0, meter.cpu(), seconds)


async def connect_phase(dep: Deployment, listeners: Listeners, meter: Meter, o: Options) -> dict[str, Any]:
    api = dep.procs.get("api") or dep.procs["run"]
    before = rss(api)
    await listeners.connect()
    status = await wait_until(lambda s: s["counted"] + sum(s["failures"].values()) >= o.connections, listeners, 600)
    await asyncio.sleep(3.0)  # let the last streams' buffers settle before reading RSS
    after = rss(api)
    started, done = status.get("connect_started"), status.get("all_counted_at")
    print(
        f"[sse] {status['counted']}/{o.connections} streams open with their counts; API RSS {before / 2**20:.0f}"
        f" -> {after / 2**20:.0f} MB"
    )
    return {
        "status": status,
        "seconds": round(done - started, 2) if done and started else None,
        "api_rss_before_mb": before / 2**20,
        "api_rss_after_mb": after / 2**20,
        "bytes_per_connection": per_connection(before, after, status["counted"]),
    }


async def load_phase(dep: Deployment, listeners: Listeners, meter: Meter, o: Options) -> dict[str, Any]:
    tag = f"sse-{uuid.uuid4().hex[:6]}"
    driver = Driver(
        dep.base_url, dep.auth, o.connections, tag, batch_size=o.batch_size, template=TEMPLATE, channels=["in_app"]
    )
    window: dict[str, Any] = {}
    pg = next((p for p in meter.procs.get("postgres", []) if isinstance(p, PgBackends)), None)

    async def open_window() -> None:
        await asyncio.sleep(o.warmup)
        window["start"], window["cpu0"] = time.time(), meter.cpu()
        window["parts0"] = await scrape(dep)
        window["backends0"] = pg.started() if pg else 0

    print(f"[sse] load: {o.rate:.0f} notifications/s for {o.duration:.0f} s, batches of {o.batch_size}")
    before = await listeners.status()
    meter.start()
    opener = asyncio.create_task(open_window())
    async with driver:
        load = await driver.run_rate(o.rate, o.duration)
    end, cpu1 = time.time(), meter.cpu()
    await opener
    parts = split_means(window["parts0"], await scrape(dep))
    backends = pg.started() - window["backends0"] if pg else None
    want = before["items"] + len(load.accepted)
    after = await wait_until(lambda s: s["items"] >= want, listeners, 60)
    await meter.stop()
    arrivals = await listeners.arrivals()
    span = end - window["start"]
    lat = latencies(load.accepted, arrivals, window["start"], end)
    in_window = sum(1 for at, _ in load.accepted.values() if window["start"] <= at <= end)
    used = cores(window["cpu0"], cpu1, span)
    return {
        **lat,
        **_load_figures(load, window["start"], end),
        "parts_mean_ms": parts,
        # PostgreSQL connections opened in the window, at least (backends are looked for twice
        # a second): a pool past its size opens, and closes, one per overflowing checkout.
        "postgres_backends_started": backends,
        "notifications_in_window": in_window,
        "window_s": round(span, 2),
        "cores": used,
        "cpu_ms_per_notification": {k: v * span / in_window * 1000 for k, v in used.items()} if in_window else {},
        "peak_rss_mb": {k: v / 2**20 for k, v in meter.peak_rss.items()},
        "status_after": after,
    }


def _load_figures(load: Load, start: float, end: float) -> dict[str, Any]:
    accept = [(s.done - s.due) * 1000 for s in load.requests if start <= s.due <= end and s.status < 300]
    return {
        "offered_rate": load.offered_rate,
        "accepted_per_s": len(load.accepted) / max(1e-9, load.ended - load.started),
        "errors": dict(load.errors),
        "accept_ms": percentiles(accept),
    }


async def run_on(dep: Deployment, o: Options, workdir: Path, doc: dict[str, Any]) -> None:
    users = [f"u{i}" for i in range(o.connections)]
    tokens = await mint_tokens(dep, users)
    await warm(dep, tokens, dep.auth)
    listeners = await Listeners.start(workdir, dep.base_url, tokens, o)
    try:
        meter = Meter(meter_parts(dep, listeners))
        print(f"[sse] {dep.name}: idle without streams ({min(o.idle, 10.0):.0f} s)")
        doc["idle_without_streams_cores"] = await measure_idle(meter, min(o.idle, 10.0))
        doc["connect"] = await connect_phase(dep, listeners, meter, o)
        print(f"[sse] idle with {doc['connect']['status']['counted']} streams ({o.idle:.0f} s)")
        pings0 = (await listeners.status())["pings"]
        doc["idle_cores"] = await measure_idle(meter, o.idle)
        doc["idle_pings"] = (await listeners.status())["pings"] - pings0
        doc["load"] = await load_phase(dep, listeners, meter, o)
    finally:
        await listeners.stop()


async def deploy(o: Options, workdir: Path, sandbox: SandboxProcess, stops: list[Any]) -> Deployment:
    people = population(o.connections, ios_share=0.0)
    if o.backend == "sqlite":
        return await herald_sqlite(workdir, sandbox, people, Tuning())
    pg = await Postgres.private(workdir) if o.private else Postgres.shared()
    stops.append(pg.stop)
    redis = await Redis.private(workdir) if o.private else Redis.shared()
    stops.append(redis.stop)
    return await herald_postgres(workdir, pg, redis.url, sandbox, people, Tuning(api_procs=1), channels=("in_app",))


async def main(o: Options) -> dict[str, Any]:
    busy = await machine_busy()
    deadline = time.monotonic() + o.wait_quiet
    while busy > 0.15 and time.monotonic() < deadline:
        busy = await machine_busy(2.0)
    nofile = raise_nofile()  # the Herald processes started from here inherit it
    if nofile < o.connections + 1000:
        print(f"[sse] warning: open files limited to {nofile}: not enough for {o.connections} streams")
    doc: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "busy_before_pct": round(100 * busy, 1)}
    doc["loadavg_before"] = os.getloadavg()
    doc["options"] = {k: str(v) for k, v in asdict(o).items()}
    doc["nofile"] = nofile
    workdir = Path(tempfile.mkdtemp(prefix="herald-sse-"))
    started = time.time()
    sandbox = await SandboxProcess.start(workdir)
    stops: list[Any] = [sandbox.stop]
    try:
        dep = await deploy(o, workdir, sandbox, stops)
        stops.append(dep.stop)
        doc["system"], doc["settings"] = dep.name, dep.settings
        await run_on(dep, o, workdir, doc)
    finally:
        for stop in reversed(stops):
            await stop()
    doc["elapsed_s"] = round(time.time() - started, 1)
    doc["versions"] = versions()
    doc["machine"] = {"cpus": len(os.sched_getaffinity(0)), "loadavg_after": os.getloadavg()}
    return doc


# -- the report --


def unattributed(used: dict[str, float]) -> float | None:
    """Cores the machine spent that no measured process explains (Redis, other users' work)."""
    if "machine" not in used:
        return None
    return used["machine"] - sum(v for k, v in used.items() if k != "machine")


def targets(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, value, MET/MISSED/not run) for the issue's three stream targets."""
    o, connect, load = doc["options"], doc.get("connect"), doc.get("load")
    out = []
    if connect and load:
        held = min(connect["status"]["counted"], load["status_after"]["open_now"])
        ok = held >= 5000 and load["status_after"]["dropped"] == 0
        out.append(("one API process holds >= 5,000 SSE streams", f"{held:,}", "MET" if ok else "MISSED"))
    else:
        out.append(("one API process holds >= 5,000 SSE streams", "-", "not run"))
    if load and load["latency_ms"]["p99"] is not None:
        p99, rate = load["latency_ms"]["p99"], float(o["rate"])
        ok = p99 <= 250 and rate >= 500 and load["missing"] == 0
        shown = f"{p99:.0f} ms at {rate:.0f}/s, {load['missing']} missing"
        out.append(("item reaches its stream: p99 <= 250 ms at 500/s", shown, "MET" if ok else "MISSED"))
    else:
        out.append(("item reaches its stream: p99 <= 250 ms at 500/s", "-", "not run"))
    per = connect["bytes_per_connection"] if connect else None
    out.append(("memory per stream (API RSS)", "-" if per is None else f"{per / 1024:.1f} KiB", "reported"))
    return out


def _ms(p: dict[str, Any], *qs: str) -> str:
    return " / ".join("-" if p.get(q) is None else f"{p[q]:.1f}" for q in qs)


def rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    c, load = doc["connect"], doc["load"]
    st, after = c["status"], load["status_after"]
    n = int(doc["options"]["connections"])
    idle, idle0 = doc["idle_cores"], doc["idle_without_streams_cores"]
    api = "api" if "api" in idle else "run"
    parts = load["parts_mean_ms"]
    known = [load["mean_ms"], parts.get("accept_to_call"), parts.get("call")]
    # The rest: from the publication to the client (Redis, the API's reader, its streams).
    rest = "-" if None in known else f"{known[0] - known[1] - known[2]:.1f}"
    per_stream = round((idle[api] - idle0[api]) / max(1, st["counted"]) * 1e6, 1) + 0.0  # no "-0.0"
    out = [
        ("streams asked / open with counts", f"{n:,} / {st['counted']:,}"),
        ("  failed to open", ", ".join(f"{k}:{v}" for k, v in st["failures"].items()) or "0"),
        ("  seconds to open them all", "-" if c["seconds"] is None else f"{c['seconds']:.1f}"),
        ("  open after the load / dropped", f"{after['open_now']:,} / {after['dropped']}"),
        ("API RSS MB before -> after", f"{c['api_rss_before_mb']:.0f} -> {c['api_rss_after_mb']:.0f}"),
        ("  per stream KiB", "-" if c["bytes_per_connection"] is None else f"{c['bytes_per_connection'] / 1024:.1f}"),
        ("idle API cores: no streams / streams", f"{idle0[api]:.3f} / {idle[api]:.3f}"),
        ("  per stream, CPU µs/s", f"{per_stream:.1f}"),
        ("  listener cores / pings in window", f"{idle['listener']:.3f} / {doc['idle_pings']:,}"),
        ("load: offered / accepted per s", f"{load['offered_rate']:.0f} / {load['accepted_per_s']:.0f}"),
        ("  errors", ", ".join(f"{k}:{v}" for k, v in load["errors"].items()) or "0"),
        ("  accept ms p50 / p99", _ms(load["accept_ms"], "p50", "p99")),
        ("accepted -> item at client ms p50/p95/p99/max", _ms(load["latency_ms"], "p50", "p95", "p99", "max")),
        ("  mean: all / accepted -> worker's call", f"{_ms(load, 'mean_ms')} / {_ms(parts, 'accept_to_call')}"),
        ("    the call (write, counts, publish) / the rest", f"{_ms(parts, 'call')} / {rest}"),
        ("  measured / never arrived", f"{load['latency_ms']['n']:,} / {load['missing']}"),
        ("  misrouted / duplicates", f"{after['misrouted']} / {after['duplicates']}"),
    ]
    for kind, v in sorted(load["cores"].items()):
        if kind != "machine":
            per = load["cpu_ms_per_notification"].get(kind)
            out.append((f"load cores (ms/notification): {kind}", f"{v:.2f} ({per:.2f})" if per else f"{v:.2f}"))
    for kind, mb in sorted(load["peak_rss_mb"].items()):
        out.append((f"peak RSS MB under load: {kind}", f"{mb:.0f}"))
    if load.get("postgres_backends_started") is not None:
        out.append(("PostgreSQL connections opened under load", f"{load['postgres_backends_started']:,}"))
    lost = unattributed(load["cores"])
    out.append(("machine cores busy / unattributed", f"{load['cores'].get('machine', 0):.2f} / {lost or 0:.2f}"))
    return out


def render(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = doc["machine"]
    title = (
        f"Herald SSE bench: {doc.get('system', '-')} ({m['cpus']} CPUs, {doc['busy_before_pct']:.0f}% busy before,"
        f" load average {doc['loadavg_before'][0]:.2f}, {doc['elapsed_s']} s)"
    )
    t = Table(title=title)
    t.add_column("figure", style="bold")
    t.add_column("value", justify="right")
    if "load" in doc:
        for name, value in rows(doc):
            t.add_row(name, value)
    t.add_section()
    for name, value, status in targets(doc):
        style = {"MET": "green", "MISSED": "red"}.get(status, "yellow")
        t.add_row(name, f"{value} [{style}]{status}[/{style}]")
    Console(width=120).print(t)


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
