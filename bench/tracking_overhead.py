"""`python -m bench.tracking_overhead`: what engagement tracking costs per email delivery in the
real pipeline, side by side (issue 22: "delivery with tracking on (links rewritten, pixel,
callbacks flowing) costs <= 10% more CPU per delivery than with it off").

Each run is a fresh Herald deployment on PostgreSQL + Redis (API, one email worker, relay,
scheduler) sending email through the sandbox, by SMTP or by SendGrid, at a fixed rate (open
loop, so both modes do the same work per second) with a realistic transactional template
(about 5 KB of HTML, 11 anchors: 9 trackable links, a `mailto:`, an opted-out link, and the
unsubscribe link). Two modes:

- off: `HERALD_TRACKING__ENABLED=false`, and the provider posts no callbacks;
- on: tracking on (links rewritten, the open pixel, List-Unsubscribe), and for SendGrid its
  signed Event Webhook posting `processed` and `delivered` to Herald's
  `/v1/callbacks/sendgrid` (SMTP has no receipts: for it, "on" is the tracking alone). SendGrid
  gathers events for up to 30 s (or 768 KB) per POST; the sandbox here gathers them for
  `--sendgrid-batch-ms` (1 s), so each POST carries a few hundred events, not thousands.

With `--baseline-src DIR` (another checkout's `src`, e.g. `git archive` of an older commit), a
third mode, `base`, is "on" with that code: a before/after of a change to the send path,
alternated with the rest in the same invocation.

Runs alternate (off, on, off, on...) per provider, because the machine's speed drifts. Per
run: CPU per delivery (ms) of the worker, the API (which takes the callbacks), the relay and
scheduler, the deployment's PostgreSQL backends, and their total; the ratio on/off of the
totals (mean of each mode's runs) is the target's figure. Redis is a shared server whose CPU
cannot be split by deployment: left out, like the simulators (reported as `sandbox`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from bench.cluster import Postgres, Redis, SandboxProcess
from bench.deploy import Deployment, Tuning, herald_postgres, sandbox_env
from bench.drive import Driver, population
from bench.measure import Inbox, Machine, Measured, Meter, PgBackends, run_phase, summarize
from bench.report import save
from bench.run import machine_busy, versions

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "bench-tracked"
TARGET_RATIO = 1.10
# The parts whose CPU is the deployment's own, in the total.
PARTS = ("worker", "api", "relay", "scheduler", "postgres")
# Mode -> tracking on; `base` is "on" with the code at --baseline-src.
MODES = {"off": False, "on": True, "base": True}

_ROW = (
    '<tr><td style="padding:8px 0;border-bottom:1px solid #eee">'
    '<a href="https://shop.example/p/SKU-{n}?utm_source=email&amp;utm_campaign=shipped&amp;o={{{{ order_id }}}}" '
    'style="color:#0b5fff;text-decoration:none">Thing number {n}</a></td>'
    '<td align="right" style="padding:8px 0;border-bottom:1px solid #eee">{q} x 12.50</td></tr>'
)
HTML = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Order {{ order_id }}</title>'
    "<style>body{font-family:Helvetica,Arial,sans-serif;color:#222} .btn{background:#0b5fff;color:#fff}</style>"
    '</head><body><table width="100%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center">'
    '<table width="600" cellpadding="0" cellspacing="0" role="presentation">'
    '<tr><td><a href="https://shop.example/"><img src="https://cdn.shop.example/logo.png" alt="Shop" width="120"></a>'
    "</td></tr><tr><td><h1>Your order {{ order_id }} has shipped</h1>"
    "<p>Hi {{ user.name }}, good news: your parcel is on its way. " + "Lorem ipsum dolor sit amet. " * 25 + "</p>"
    '<p><a class="btn" href="https://shop.example/orders/{{ order_id }}/track">Track your parcel</a></p>'
    '<table width="100%">' + "".join(_ROW.format(n=n, q=n % 3 + 1) for n in range(6)) + "</table>"
    "<p>" + "Consectetur adipiscing elit, sed do eiusmod tempor. " * 30 + "</p>"
    '<p>Questions? <a href="mailto:help@shop.example">help@shop.example</a> or '
    '<a href="https://shop.example/help">our help centre</a>.</p>'
    '<p><a data-herald-track="off" href="https://shop.example/account/privacy">Privacy</a>'
    '{% if unsubscribe_url %} · <a href="{{ unsubscribe_url }}">Unsubscribe</a>{% endif %}</p>'
    "</td></tr></table></td></tr></table></body></html>"
)
TEXT = "Hi {{ user.name }}, order {{ order_id }} shipped: https://shop.example/orders/{{ order_id }}/track"
TEMPLATE_CHANNELS = {"email": {"subject": "Order {{ order_id }} shipped", "html": HTML, "text": TEXT}}


@dataclass
class Options:
    providers: list[str] = field(default_factory=lambda: ["smtp", "sendgrid"])
    pairs: int = 2
    rate: float = 150.0
    duration: float = 20.0
    warmup: float = 4.0
    users: int = 1000
    latency_ms: float = 20.0
    batch_size: int = 10
    wait_quiet: float = 0.0
    results_dir: Path = REPO / "bench" / "results"
    baseline_src: Path | None = None
    sendgrid_batch_ms: float = 1000.0

    def modes(self) -> list[str]:
        return ["off", "on", "base"] if self.baseline_src else ["off", "on"]


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.tracking_overhead", description=__doc__)
    p.add_argument("--providers", default="smtp,sendgrid", help="comma-separated: smtp, sendgrid")
    p.add_argument("--pairs", type=int, default=2, help="(off, on) pairs per provider, alternating")
    p.add_argument("--rate", type=float, default=150.0, help="emails/s offered (open loop)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds of each run left out of the figures")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--latency-ms", type=float, default=20.0, help="latency the simulators add per request")
    p.add_argument("--batch-size", type=int, default=10, help="notifications per request")
    p.add_argument("--wait-quiet", type=float, default=0.0, help="first wait up to this long for an idle machine")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--baseline-src", type=Path, default=None, help="a `src` dir: adds mode `base`, on with that code")
    p.add_argument(
        "--sendgrid-batch-ms",
        type=float,
        default=1000.0,
        help="SendGrid's Event Webhook gathers events this long per POST (SendGrid itself: up to 30 s or 768 KB)",
    )
    a = p.parse_args(argv)
    providers = [x.strip() for x in a.providers.split(",") if x.strip()]
    if not providers or any(x not in ("smtp", "sendgrid") for x in providers):
        p.error("--providers: smtp and/or sendgrid")
    return Options(
        providers,
        a.pairs,
        a.rate,
        a.duration,
        a.warmup,
        a.users,
        a.latency_ms,
        a.batch_size,
        a.wait_quiet,
        a.results,
        a.baseline_src.resolve() if a.baseline_src else None,
        a.sendgrid_batch_ms,
    )


# -- the arithmetic (tests/unit/test_tracking_overhead_bench.py) --


def per_delivery_ms(cpu_s: dict[str, float], delivered: int) -> dict[str, float | None]:
    """CPU ms per delivery of each part, and of their `total`."""
    if not delivered:
        return {k: None for k in (*PARTS, "total")}
    out: dict[str, float | None] = {k: cpu_s.get(k, 0.0) / delivered * 1000 for k in PARTS}
    out["total"] = sum(cpu_s.get(k, 0.0) for k in PARTS) / delivered * 1000
    return out


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per part: the mean ms per delivery of each mode's runs, and the ratios to off
    (`ratio`: on / off; `base_ratio`: base / off, when base ran)."""
    out: dict[str, Any] = {}
    for part in (*PARTS, "total"):
        means: dict[str, float | None] = {}
        for mode in MODES:
            values = [r["cpu_ms_per_delivery"][part] for r in runs if r["mode"] == mode]
            values = [v for v in values if v is not None]
            if values:
                means[mode] = sum(values) / len(values)
        off = means.get("off")
        row: dict[str, float | None] = {**means}
        for mode, key in (("on", "ratio"), ("base", "base_ratio")):
            if mode in means:
                value = means[mode]
                row[key] = value / off if value is not None and off else None
        out[part] = row
    return out


# -- the parts --


class SendGridAccount:
    """The SendGrid simulator's account settings: its signed Event Webhook, on or off."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        config = json.loads(sandbox.env["HERALD_PROVIDERS"])["sendgrid"]
        headers = {"Authorization": f"Bearer {config['api_key']}"}
        self._client = httpx.AsyncClient(base_url=config["base_url"], headers=headers, timeout=30)
        self.sandbox = sandbox

    async def signing_key(self) -> str:
        """Turns signing on (as an account would once) and returns the verification key."""
        r = await self._client.patch("/v3/user/webhooks/event/settings/signed", json={"enabled": True})
        r.raise_for_status()
        return str(r.json()["public_key"])

    async def webhook(self, url: str | None, *, batch_ms: float = 1000.0) -> None:
        """The Event Webhook posting every event to `url`, or disabled (None); the sandbox's
        dispatcher then delivers the callbacks (or drops them), gathered `batch_ms` a POST."""
        on = url is not None
        toggles = dict.fromkeys(("processed", "delivered", "deferred", "bounce", "dropped"), on)
        r = await self._client.patch(
            "/v3/user/webhooks/event/settings", json={"enabled": on, "url": url or "", **toggles}
        )
        r.raise_for_status()
        await self.sandbox.set_callbacks(
            "sendgrid", {"drop_rate": 0.0, "batch_window_ms": batch_ms} if on else {"drop_rate": 1.0}
        )

    async def close(self) -> None:
        await self._client.aclose()


async def put_template(dep: Deployment) -> None:
    async with httpx.AsyncClient(base_url=dep.base_url, auth=dep.auth, timeout=30) as client:
        r = await client.put(f"/v1/templates/{TEMPLATE}", json={"channels": TEMPLATE_CHANNELS})
        r.raise_for_status()


async def events_by_kind(database_url: str) -> dict[str, int]:
    """The deployment's timeline, counted by kind: the callbacks' `delivered` show they flowed."""
    from herald.kit.db import make_engine

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT kind, count(*) FROM delivery_events GROUP BY kind"))).all()
    finally:
        await engine.dispose()
    return {str(k): int(n) for k, n in rows}


@dataclass
class Bench:
    o: Options
    workdir: Path
    sandbox: SandboxProcess
    inbox: Inbox
    pg: Postgres
    redis: Redis
    sendgrid: SendGridAccount
    public_key: str
    t0: float = field(default_factory=time.time)

    def env(self, provider: str, mode: str) -> dict[str, str]:
        providers = json.loads(sandbox_env(self.sandbox)["HERALD_PROVIDERS"])
        providers["sendgrid"]["event_webhook_public_key"] = self.public_key
        src = self.o.baseline_src if mode == "base" and self.o.baseline_src else REPO / "src"
        tracking = MODES[mode]
        return {
            "PYTHONPATH": str(src),
            "HERALD_PROVIDERS": json.dumps(providers),
            "HERALD_ROUTES__EMAIL": json.dumps([provider]),
            "HERALD_TRACKING__ENABLED": "true" if tracking else "false",
            "HERALD_API__PUBLIC_URL": "https://herald.bench.example",
        }

    async def run(self, provider: str, mode: str, people: list[Any]) -> dict[str, Any]:
        o, tracking = self.o, MODES[mode]
        env = self.env(provider, mode)
        dep = await herald_postgres(
            self.workdir, self.pg, self.redis.url, self.sandbox, people, Tuning(), ("email",), env
        )
        try:
            await put_template(dep)
            callbacks = tracking and provider == "sendgrid"
            await self.sendgrid.webhook(
                f"{dep.base_url}/v1/callbacks/sendgrid" if callbacks else None, batch_ms=o.sendgrid_batch_ms
            )
            database = dep.settings["database"]
            procs: dict[str, list[Measured]] = {k: [*v] for k, v in dep.procs.items()}
            procs |= {"postgres": [PgBackends(database)], "sandbox": [self.sandbox.proc], "machine": [Machine()]}
            meter = Meter(procs)
            clock = f"{time.time() - self.t0:5.0f}s"
            print(f"[tracking] {clock} {provider} tracking {mode}: {o.duration:.0f} s at {o.rate:.0f}/s")
            tag = f"trk-{provider}-{mode}-{uuid.uuid4().hex[:6]}"
            async with Driver(
                dep.base_url, dep.auth, o.users, tag, batch_size=o.batch_size, template=TEMPLATE, channels=["email"]
            ) as driver:
                load, rows, window = await run_phase(
                    meter, self.inbox, lambda _: driver.run_rate(o.rate, o.duration), warmup=o.warmup
                )
            stats = summarize(load, rows, window, meter, latency_ms=o.latency_ms, herald_kinds=dep.own_kinds)
            await asyncio.sleep(1.0 + o.sendgrid_batch_ms / 1000)  # the last callbacks land
            kinds = await events_by_kind(dep.settings["env"]["HERALD_DATABASE_URL"])
        finally:
            await self.sendgrid.webhook(None)
            await dep.stop()
        delivered = int(stats["received_in_window"])
        cpu_s: dict[str, float] = stats["cpu_s"]
        row: dict[str, Any] = {
            "provider": provider,
            "mode": mode,
            "callbacks": callbacks,
            "delivered_in_window": delivered,
            "deliveries_per_s": stats["deliveries_per_s"],
            "missing_after_drain": stats["missing_after_drain"],
            "errors": stats["errors"],
            "cpu_ms_per_delivery": per_delivery_ms(cpu_s, delivered),
            "sandbox_cpu_ms_per_delivery": cpu_s.get("sandbox", 0.0) / delivered * 1000 if delivered else None,
            "machine_busy_pct": stats["machine_busy_pct"],
            "a2p_ms": stats["a2p_ms"],
            "events_by_kind": kinds,
            "settings": {k: v for k, v in env.items() if k != "HERALD_PROVIDERS"},
        }
        ms = row["cpu_ms_per_delivery"]
        shown = ", ".join(f"{k} {ms[k]:.3f}" for k in (*PARTS, "total") if ms[k] is not None)
        print(f"[tracking]   {delivered} delivered; CPU ms/delivery: {shown}; events {kinds}")
        return row


async def main(o: Options) -> dict[str, Any]:
    busy = await machine_busy()
    deadline = time.monotonic() + o.wait_quiet
    while busy > 0.15 and time.monotonic() < deadline:
        busy = await machine_busy(2.0)
    doc: dict[str, Any] = {
        "system": "tracking-overhead",
        "started_at": datetime.now(UTC).isoformat(),
        "busy_before_pct": round(busy * 100, 1),
        "options": {k: str(v) for k, v in asdict(o).items()},
        "versions": versions(),
        "runs": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="herald-tracking-"))
    sandbox = await SandboxProcess.start(workdir, latency_ms=o.latency_ms)
    sendgrid = SendGridAccount(sandbox)
    inbox = Inbox(sandbox)
    pg, redis = Postgres.shared(), Redis.shared()
    try:
        b = Bench(o, workdir, sandbox, inbox, pg, redis, sendgrid, await sendgrid.signing_key())
        people = population(o.users, 0.0)
        for provider in o.providers:
            modes = o.modes()
            for n in range(o.pairs):
                # off, on; then on, off (or rotated, with base): no mode always runs first
                for mode in modes[n % len(modes) :] + modes[: n % len(modes)]:
                    doc["runs"].append(await b.run(provider, mode, people))
    finally:
        await inbox.close()
        await sendgrid.close()
        await redis.stop()
        await pg.stop()
        await sandbox.stop()
    doc["comparison"] = {p: compare([r for r in doc["runs"] if r["provider"] == p]) for p in o.providers}
    doc["targets"] = []
    for provider, parts in doc["comparison"].items():
        ratio = parts["total"]["ratio"]
        doc["targets"].append(
            {
                "target": f"tracking on costs <= 10% more CPU per delivery ({provider})",
                "value": ratio,
                "shown": "-"
                if ratio is None
                else f"{parts['total']['off']:.3f} -> {parts['total']['on']:.3f} ms/delivery (x{ratio:.3f})",
                "status": "MET" if ratio is not None and ratio <= TARGET_RATIO else "MISSED",
            }
        )
    return doc


def cli(argv: list[str] | None = None) -> int:
    o = parse(sys.argv[1:] if argv is None else argv)
    import uvloop

    doc = uvloop.run(main(o))
    for provider, parts in doc["comparison"].items():
        print(f"[tracking] {provider}: CPU ms per delivery, mean of {o.pairs} runs each")
        for part, v in parts.items():
            cells = "  ".join(f"{m} {v[m]:7.3f}" for m in MODES if v.get(m) is not None)
            ratios = "  ".join(f"{k} x{v[k]:.3f}" for k in ("ratio", "base_ratio") if v.get(k) is not None)
            print(f"[tracking]   {part:10s} {cells}  {ratios}")
    for t in doc["targets"]:
        print(f"[tracking] {t['target']}: {t['shown']}: {t['status']}")
    print(f"results: {save(doc, o.results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
