"""What a phase measured: deliveries/s, latencies and CPU/RSS per process type.

Every delivery time comes from the simulators (`received_at` in the sandbox inbox) and every
accept time from the server's own `created_at`, joined on the delivery key; nothing is
inferred from the driver's side except the accept latency of its own requests. The first
`warmup` seconds of a phase are excluded from every figure.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import Receipt, SandboxProcess
from bench.drive import Load
from bench.procs import pids, stat_fields

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Measured(Protocol):
    def cpu_seconds(self) -> float: ...

    def rss_bytes(self) -> int: ...


Processes = dict[str, list[Measured]]


class PgBackends:
    """The PostgreSQL server processes serving one database (found by their process title).

    The shared server's own background processes serve every database and are not counted.
    Pools close overflow connections, so backends come and go: every backend ever seen keeps
    its last observed CPU (the sampler refreshes twice a second), and only what a backend
    spent after its last sample is lost.
    """

    def __init__(self, database: str) -> None:
        self._needle = f" {database} ".encode()
        self._seen: dict[tuple[str, str], float] = {}

    def _scan(self) -> None:
        for pid in pids():
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres:") and self._needle in title and (st := stat_fields(pid)):
                self._seen[(pid, st[19])] = (int(st[11]) + int(st[12])) / _TICK

    def cpu_seconds(self) -> float:
        self._scan()
        return sum(self._seen.values())

    def rss_bytes(self) -> int:
        self._scan()  # the sampler's twice-a-second call keeps short-lived backends counted
        return 0  # shared buffers would be counted once per backend: meaningless as a sum

    def started(self) -> int:
        """Backends seen so far: new ones are a pool opening connections (and closing others)."""
        self._scan()
        return len(self._seen)


class Machine:
    """Every CPU second the machine spent (all processes: ours, the servers', anyone else's)."""

    def cpu_seconds(self) -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
        return (user + nice + system + irq + softirq + steal) / _TICK

    def rss_bytes(self) -> int:
        return 0


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 (nearest rank) and the max, in the unit given."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1], "n": len(ordered)}


def driver_cpu() -> float:
    """CPU seconds of this process (the load driver) so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# The prefix of a Meter kind that is one channel's workers, a part of `worker`.
CHANNEL_PART = "channel:"


class Meter:
    """CPU and peak RSS of each process type; the driver (this process) counts as `driver`."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.peak_rss: dict[str, int] = Counter()
        # (seconds since start, {kind: largest process RSS}), for the soak's "flat" check.
        self.timeline: list[tuple[float, dict[str, int]]] = []
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    def cpu(self) -> dict[str, float]:
        out = {kind: sum(p.cpu_seconds() for p in ps) for kind, ps in self.procs.items()}
        out["driver"] = driver_cpu()
        return out

    def sample_rss(self) -> None:
        now: dict[str, int] = Counter()
        for kind, ps in self.procs.items():
            for p in ps:
                if rss := p.rss_bytes():
                    now[kind] = max(now[kind], rss)
                    self.peak_rss[kind] = max(self.peak_rss[kind], rss)
        self.timeline.append((time.monotonic() - self._t0, dict(now)))

    async def _sampler(self, period: float) -> None:
        while True:
            self.sample_rss()
            await asyncio.sleep(period)

    def start(self, period: float = 0.5) -> None:
        self.peak_rss, self.timeline, self._t0 = Counter(), [], time.monotonic()
        self._task = asyncio.create_task(self._sampler(period))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample_rss()


class Inbox:
    """The sandbox's message count (cheap, for flow control) and its timestamps (for the join)."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.sandbox = sandbox
        self._client = httpx.AsyncClient(base_url=sandbox.base_url, timeout=30)

    async def total(self) -> int:
        resp = await self._client.get("/_sandbox/health")
        resp.raise_for_status()
        return int(resp.json()["messages"])

    async def close(self) -> None:
        await self._client.aclose()


# channel -> (sum of seconds, count) of Herald's accept-to-send histogram.
Waits = dict[str, tuple[float, float]]
Scraped = dict[str, Waits]  # metric -> its per-channel sums and counts
WAIT_METRIC = "herald_accept_to_send_seconds"
# From a delivery's send to its outcome's commit: what a crash would leave to the lease
# recovery. Its sum per second over the window is how many are unrecorded at any moment.
UNRECORDED_METRIC = "herald_delivery_unrecorded_seconds"
# The folders' transactions (analytics): on SQLite each holds the write lock, so their time per
# second is the share of the window the hot path's writers could be kept waiting by them.
FOLD_METRIC = "herald_analytics_fold_seconds"


@dataclass
class Window:
    """The measured part of a phase: after the warm-up, until the driver stopped."""

    start: float = 0.0
    end: float = 0.0
    cpu0: dict[str, float] = field(default_factory=dict)
    cpu1: dict[str, float] = field(default_factory=dict)
    # Herald's own histograms at the window's ends (`first_send_waits`): metric -> its label
    # (channel) -> (sum s, count).
    scraped0: Scraped = field(default_factory=dict)
    scraped1: Scraped = field(default_factory=dict)

    def delta(self, metric: str) -> tuple[Waits, Waits]:
        """`metric`'s sums and counts at the window's start and end."""
        return self.scraped0.get(metric, {}), self.scraped1.get(metric, {})


def parse_waits(text: str, into: Waits | None = None, metric: str = WAIT_METRIC, label: str = "channel") -> Waits:
    """Sum and count of one per-channel (or per-`label`) histogram (`herald_accept_to_send_seconds`
    unless told) in one /metrics page, added to `into` (the other processes' pages) when given."""
    out: Waits = {} if into is None else into
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            channel = sample.labels.get(label, "")  # "" for a histogram without labels
            seconds, count = out.get(channel, (0.0, 0.0))
            if sample.name == f"{metric}_sum":
                out[channel] = (seconds + sample.value, count)
            elif sample.name == f"{metric}_count":
                out[channel] = (seconds, count + sample.value)
    return out


async def first_send_waits(urls: list[str], token: str = "") -> Scraped:
    """`parse_waits` of the wait, unrecorded and fold histograms, summed over the processes at
    `urls` (the API's /metrics wants its bearer `token`; a worker's port needs none); empty
    if one does not answer (the figures are then left out, not guessed)."""
    total: Scraped = {WAIT_METRIC: {}, UNRECORDED_METRIC: {}, FOLD_METRIC: {}}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=5, headers=headers) as client:
        for url in urls:
            try:
                text = (await client.get(url)).text
            except httpx.HTTPError:
                return {}
            for metric, into in total.items():
                parse_waits(text, into=into, metric=metric)
    return total


def mean_unrecorded(w0: Waits, w1: Waits, span: float) -> dict[str, float | None]:
    """Deliveries unrecorded at any moment, on average over the window (Little's law: the
    time they spent so, per second), and the mean time each spent so, in ms."""
    seconds = sum(s1 - w0.get(c, (0.0, 0.0))[0] for c, (s1, _) in w1.items())
    count = sum(n1 - w0.get(c, (0.0, 0.0))[1] for c, (_, n1) in w1.items())
    return {
        "mean_in_flight": seconds / span if w1 and span > 0 else None,
        "mean_ms": seconds / count * 1000 if count else None,
    }


def mean_folding(w0: Waits, w1: Waits, span: float) -> dict[str, float | None]:
    """The folders' time in their transactions per second of the window (ms), and each's mean."""
    s0, n0 = w0.get("", (0.0, 0.0))
    s1, n1 = w1.get("", (0.0, 0.0))
    return {
        "ms_per_s": (s1 - s0) / span * 1000 if w1 and span > 0 else None,
        "mean_ms": (s1 - s0) / (n1 - n0) * 1000 if n1 > n0 else None,
    }


def mean_waits_ms(w0: Waits, w1: Waits) -> dict[str, float | None]:
    """Each channel's mean wait between two snapshots, and `all` channels together."""
    out: dict[str, float | None] = {}
    total = [0.0, 0.0]
    for channel, (s1, n1) in sorted(w1.items()):
        s0, n0 = w0.get(channel, (0.0, 0.0))
        out[channel] = (s1 - s0) / (n1 - n0) * 1000 if n1 > n0 else None
        total = [total[0] + s1 - s0, total[1] + n1 - n0]
    if out:
        out["all"] = total[0] / total[1] * 1000 if total[1] else None
    return out


async def run_phase(
    meter: Meter,
    inbox: Inbox,
    drive: Callable[[Callable[[], Awaitable[int]]], Awaitable[Load]],
    *,
    warmup: float,
    drain_timeout: float = 30.0,
    waits: Callable[[], Awaitable[Scraped]] | None = None,
) -> tuple[Load, list[Receipt], Window]:
    """Drive, snapshot CPU (and `waits`, Herald's own histograms) around the window, wait for
    stragglers, fetch the simulators' times."""
    seq0 = await inbox.total()

    async def delivered() -> int:
        try:
            return await inbox.total() - seq0
        except httpx.HTTPError:
            return 0

    window = Window()

    async def open_window() -> None:
        await asyncio.sleep(warmup)
        window.start, window.cpu0 = time.time(), meter.cpu()
        if waits is not None:
            window.scraped0 = await waits()

    meter.start()
    opener = asyncio.create_task(open_window())
    load = await drive(delivered)
    window.end, window.cpu1 = time.time(), meter.cpu()
    if waits is not None:
        window.scraped1 = await waits()
    if not opener.done():  # a phase shorter than its warm-up: measure all of it
        opener.cancel()
        window.start, window.cpu0, window.scraped0 = load.started, window.cpu1, window.scraped1
    # Stragglers: wait until everything accepted arrived, or nothing more arrives for 5 s
    # (retries far in the future), or the timeout.
    deadline = time.monotonic() + drain_timeout
    got, progress_at = -1, time.monotonic()
    while time.monotonic() < deadline and (now := await delivered()) < len(load.accepted):
        if now != got:
            got, progress_at = now, time.monotonic()
        elif time.monotonic() - progress_at > 5.0:
            break
        await asyncio.sleep(0.2)
    await meter.stop()
    rows = await inbox.sandbox.timestamps(since=seq0)
    return load, rows, window


def summarize(
    load: Load,
    rows: list[Receipt],
    window: Window,
    meter: Meter,
    *,
    latency_ms: float,
    herald_kinds: tuple[str, ...],
) -> dict[str, Any]:
    """Every figure of one phase, as plain JSON-ready values."""
    span = max(1e-9, window.end - window.start)
    received = [r for r in rows if window.start <= r[3] <= window.end]
    first: dict[str, tuple[float, float]] = {}  # key -> the first copy's (received, arrived)
    copies: Counter[str] = Counter()
    for _, key, _, at, arrived in rows:
        if key:
            copies[key] += 1
            if key not in first or at < first[key][0]:
                first[key] = (at, arrived)
    a2p: list[float] = []
    a2a: list[float] = []
    by_channel: dict[str, list[float]] = {}
    missing = 0
    for key, (accepted_at, channel) in load.accepted.items():
        if not window.start <= accepted_at <= window.end:
            continue
        if key not in first:
            missing += 1
            continue
        got_at, arrived_at = first[key]
        ms = (got_at - accepted_at) * 1000
        a2p.append(ms)
        a2a.append((arrived_at - accepted_at) * 1000)
        by_channel.setdefault(channel, []).append(ms)
    accept = [(s.done - s.due) * 1000 for s in load.requests if window.start <= s.due <= window.end and s.status < 300]
    delivered = len(received)
    cpu = {k: window.cpu1.get(k, 0.0) - window.cpu0.get(k, 0.0) for k in window.cpu1}
    machine = cpu.pop("machine", 0.0)
    # A channel's workers are counted in `worker` too: apart, and per message of that channel.
    by_channel_cpu = {k[len(CHANNEL_PART) :]: cpu.pop(k) for k in list(cpu) if k.startswith(CHANNEL_PART)}
    received_by_channel = Counter(load.accepted[r[1]][1] for r in received if r[1] in load.accepted)
    per_1k = {k: (v / delivered * 1000 if delivered else None) for k, v in cpu.items()}
    cores = os.cpu_count() or 1
    herald_cpu = sum(cpu.get(k, 0.0) for k in herald_kinds)
    return {
        "offered_rate": load.offered_rate,
        "window_s": round(span, 2),
        "deliveries_per_s": delivered / span,
        "accepted_total": len(load.accepted),
        "received_in_window": delivered,
        "missing_after_drain": missing,
        "duplicates": sum(1 for n in copies.values() if n > 1),
        "unkeyed": sum(1 for r in rows if not r[1]),
        "errors": dict(load.errors),
        "requests": len(load.requests),
        "accept_ms": percentiles(accept),
        "a2p_ms": percentiles(a2p),
        # Until the simulator had the message: stamped on arrival, before its injected latency.
        "a2p_arrival_ms": percentiles(a2a),
        # The measure before arrivals were stamped: received, less the nominal latency, which
        # also counts the simulator's timers firing late on a busy machine.
        "a2p_received_less_latency_ms": percentiles([v - latency_ms for v in a2p]),
        "a2p_by_channel_ms": {c: percentiles(v) for c, v in sorted(by_channel.items())},
        # Herald's own part of it: acceptance to the first provider call, as its workers count.
        "accept_to_send_mean_ms": mean_waits_ms(*window.delta(WAIT_METRIC)),
        # What a crash would have left unrecorded, at an average moment of the window.
        "unrecorded": mean_unrecorded(*window.delta(UNRECORDED_METRIC), span),
        # The analytics folders' transactions: how long per second of the window, how long each.
        "folding": mean_folding(*window.delta(FOLD_METRIC), span),
        "cpu_s": cpu,
        "cpu_s_per_1k": per_1k,
        "worker_cpu_ms_per_message": {
            c: v / received_by_channel[c] * 1000 if received_by_channel[c] else None
            for c, v in sorted(by_channel_cpu.items())
        },
        # How busy the whole machine was, and how much of that no measured process explains
        # (Redis, shared PostgreSQL processes, and anything else running on the machine).
        "machine_busy_pct": 100 * machine / span / cores,
        "unattributed_cores": (machine - sum(cpu.values())) / span,
        "system_cpu_ms_per_delivery": herald_cpu / delivered * 1000 if delivered else None,
        "system_and_db_cpu_ms_per_delivery": (herald_cpu + cpu.get("postgres", 0.0)) / delivered * 1000
        if delivered
        else None,
        "peak_rss_mb": {k: v / 2**20 for k, v in meter.peak_rss.items()},
        "rss_timeline_mb": rss_timeline(meter.timeline),
    }


def rss_timeline(samples: list[tuple[float, dict[str, int]]], points: int = 40) -> dict[str, list[list[float]]]:
    """Per process type, at most `points` (seconds, MB) samples spread over the phase."""
    step = max(1, len(samples) // points)
    picked = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    out: dict[str, list[list[float]]] = {}
    for t, kinds in picked:
        for kind, rss in kinds.items():
            out.setdefault(kind, []).append([round(t, 1), round(rss / 2**20, 1)])
    return out
