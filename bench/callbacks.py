"""`python -m bench.callbacks`: provider callback ingestion on PostgreSQL + Redis (issue 22: >= 3,000
events/s sustained, with the state machine and the rollups; CPU per event of the API process
and of PostgreSQL).

One API process (bench/api_stack.py) with sent deliveries in its log; load generator processes
(bench/http_load.py, closed loop: C requests in flight) post correctly signed callbacks:
- twilio: status callbacks, one event per request: `delivered` for 90% of the messages,
  `undelivered` 30003 (5%) or 30006 (5%, a landline: the number is suppressed); 10% of them
  posted again a little later (a provider's retry), and for 5% a late `sent` after the
  verdict (out of order: it must change nothing);
- sendgrid: Event Webhook batches of 100 events, signed ECDSA P-256: per message `processed`,
  then `delivered` (92%), a hard bounce (5%, suppressed) or a blocked one (3%); opens for 40%
  and clicks for 15% of those delivered; every event's order shuffled within a window (an open
  may come before its `delivered`) and 10% of the events posted again in a later batch;
- mixed: both at once, on deliveries of their own.
Each phase is measured over a window after its warm-up: callbacks/s, the provider events they
carried per second, p50/p99 per request, and CPU ms per 1,000 events of the API process and of
PostgreSQL's backends for its database. Afterwards the log must hold exactly the distinct
events of the answered callbacks, each delivery's outcome its verdict, and the rollups,
engagement counts and suppressions exactly what those events make.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.api_stack import (
    OPEN_LOOP_EDGES,
    Generated,
    Sent,
    Stack,
    at,
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
from herald.events.kinds import OUTCOME_RANK
from herald.providers import sendgrid, twilio

REPO = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "0" * 32
RequestSpec = tuple[str, str, dict[str, str], str]
# Open loop: the p99 (from each callback's due time) of a server that keeps up with the rate.
SUSTAINED_P99_MS = 1000.0
# One event a callback carries that Herald records: (delivery, dedupe, kind, code, address, suppressed).
Expect = tuple[uuid.UUID, str, str, str | None, str | None, bool]


@dataclass
class Options:
    phases: tuple[str, ...] = ("twilio", "sendgrid", "mixed")
    twilio_deliveries: int = 60_000
    sendgrid_deliveries: int = 30_000
    mixed_deliveries: int = 25_000
    duration: float = 18.0
    warmup: float = 3.0
    generators: int = 2
    concurrency: int = 64
    sendgrid_concurrency: int = 8
    batch: int = 100
    seed: int = 22
    api_workers: int = 1
    results_dir: Path = REPO / "bench" / "results"
    # Open loop: Twilio callbacks posted at this rate whatever the answers (as a provider
    # does), instead of `concurrency` in flight; latency then counts from each one's due time.
    rate: float | None = None


def parse(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.callbacks", description=__doc__)
    p.add_argument("--phases", default="twilio,sendgrid,mixed", help="comma-separated: twilio, sendgrid, mixed")
    p.add_argument("--twilio-deliveries", type=int, default=60_000, help="SMS deliveries for the twilio phase")
    p.add_argument("--sendgrid-deliveries", type=int, default=30_000, help="email deliveries for the sendgrid phase")
    p.add_argument("--mixed-deliveries", type=int, default=25_000, help="SMS and as many email for the mixed phase")
    p.add_argument("--duration", type=float, default=18.0, help="seconds of load per phase")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of each phase left out of the figures")
    p.add_argument("--generators", type=int, default=2, help="generator processes for Twilio's callbacks")
    p.add_argument("--concurrency", type=int, default=64, help="Twilio callbacks in flight (all generators)")
    p.add_argument("--sendgrid-concurrency", type=int, default=8, help="SendGrid batches in flight")
    p.add_argument("--batch", type=int, default=100, help="events per SendGrid POST")
    p.add_argument("--seed", type=int, default=22)
    p.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="API processes (uvicorn workers) taking the callbacks; their CPU is summed",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open loop: Twilio callbacks per second, posted whatever the answers (as a provider does);"
        " default: closed loop, --concurrency in flight",
    )
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    a = p.parse_args(argv)
    phases = tuple(x for x in a.phases.split(",") if x)
    return Options(
        phases,
        a.twilio_deliveries,
        a.sendgrid_deliveries,
        a.mixed_deliveries,
        a.duration,
        a.warmup,
        a.generators,
        a.concurrency,
        a.sendgrid_concurrency,
        a.batch,
        a.seed,
        a.api_workers,
        a.results,
        a.rate,
    )


@dataclass
class Plan:
    """Prepared callbacks, in the order they are posted, each with the events it carries."""

    requests: list[RequestSpec] = field(default_factory=list)
    expects: list[list[Expect]] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)  # provider events per request


# -- the callbacks, as the providers would post them --


def twilio_plan(stack: Stack, sent: list[Sent], rng: random.Random) -> Plan:
    items: list[tuple[float, RequestSpec, list[Expect]]] = []

    def post(d: Sent, sid: str, status: str, code: str | None) -> tuple[RequestSpec, list[Expect]]:
        path = f"/v1/callbacks/twilio?{twilio.KEY_PARAM}={d.id.hex}"
        form = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": "+15005550006"}
        form |= {"MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": d.address}
        if code:
            form["ErrorCode"] = code
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio.signature(stack.twilio_token, stack.base_url + path, form),
        }
        expect: list[Expect] = []
        if status in ("delivered", "undelivered"):
            kind = "delivered" if status == "delivered" else "undelivered"
            expect.append((d.id, f"{sid}:{status}:{code or ''}", kind, code, d.address, code == "30006"))
        return ("POST", path, headers, urlencode(form)), expect

    for i, d in enumerate(sent):
        sid = "SM" + d.id.hex
        roll = rng.random()
        status, code = ("delivered", None) if roll < 0.90 else ("undelivered", "30003" if roll < 0.95 else "30006")
        verdict = post(d, sid, status, code)
        key = i + rng.uniform(0, 20)
        items.append((key, *verdict))
        if rng.random() < 0.10:  # the provider's retry of the same callback
            items.append((key + rng.uniform(50, 500), *verdict))
        if rng.random() < 0.05:  # a late `sent`, after the verdict
            items.append((key + rng.uniform(1, 300), *post(d, sid, "sent", None)))
    items.sort(key=lambda x: x[0])
    return Plan([r for _, r, _ in items], [e for _, _, e in items], [1] * len(items))


def _sendgrid_events(d: Sent, i: int, rng: random.Random, now: int) -> list[tuple[float, dict[str, Any]]]:
    msg = "m" + d.id.hex[:20]
    base = {"email": d.address, "sg_message_id": f"{msg}.filter0001", sendgrid.KEY_ARG: d.id.hex}
    out: list[tuple[str, dict[str, Any]]] = [("processed", {})]
    roll = rng.random()
    if roll < 0.92:
        out.append(("delivered", {"response": "250 OK"}))
        if rng.random() < 0.40:
            out += [("open", {"useragent": "Mozilla/5.0"}) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.15:
            out += [("click", {"url": f"https://shop.example/p/{rng.randint(1, 8)}"}) for _ in range(rng.randint(1, 2))]
    elif roll < 0.97:
        out.append(("bounce", {"type": "bounce", "reason": "550 5.1.1 no such user", "status": "5.1.1"}))
    else:
        out.append(("bounce", {"type": "blocked", "reason": "421 try later", "status": "4.7.0"}))
    events = []
    for step, (name, extra) in enumerate(out):
        event = base | extra | {"event": name, "timestamp": now - 300 + step, "sg_event_id": uuid.uuid4().hex[:22]}
        # Shuffled within a window of about 20 messages: a message's events may cross.
        events.append((i * 4 + step + rng.uniform(0, 80), event))
    return events


def _expect_sendgrid(event: dict[str, Any]) -> Expect | None:
    kinds = {"delivered": "delivered", "bounce": "bounced", "open": "opened", "click": "clicked"}
    kind = kinds.get(event["event"])
    if kind is None:
        return None
    code = ("soft" if event.get("type") == "blocked" else "hard") if kind == "bounced" else None
    delivery = uuid.UUID(hex=event[sendgrid.KEY_ARG])
    return (delivery, event["sg_event_id"], kind, code, event["email"], code == "hard")


def sendgrid_plan(stack: Stack, sent: list[Sent], rng: random.Random, batch: int) -> Plan:
    now = int(time.time())
    events = [e for i, d in enumerate(sent) for e in _sendgrid_events(d, i, rng, now)]
    events += [(key + rng.uniform(400, 4000), e) for key, e in events if rng.random() < 0.10]  # retried
    events.sort(key=lambda x: x[0])
    plan = Plan()
    for start_ in range(0, len(events), batch):
        chunk = [e for _, e in events[start_ : start_ + batch]]
        body = orjson.dumps(chunk)
        stamp = str(int(time.time()))
        sig = stack.sendgrid_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            sendgrid.SIGNATURE_HEADER: base64.b64encode(sig).decode(),
            sendgrid.TIMESTAMP_HEADER: stamp,
        }
        plan.requests.append(("POST", "/v1/callbacks/sendgrid", headers, body.decode()))
        plan.expects.append([x for e in chunk if (x := _expect_sendgrid(e)) is not None])
        plan.weights.append(len(chunk))
    return plan


# -- a phase --


@dataclass
class Run:
    """One generator group's plan and what it sent."""

    provider: str
    plan: Plan
    result: Generated | None = None


async def phase(stack: Stack, workdir: Path, name: str, runs: list[Run], o: Options) -> dict[str, Any]:
    print(
        f"[callbacks] {name}: {o.duration:.0f} s, {', '.join(f'{len(r.plan.requests):,} {r.provider}' for r in runs)}"
    )
    futures = []
    start_at = time.time() + 2.0 + len(runs)  # every group starts at the same moment
    for r in runs:
        gens = o.generators if r.provider == "twilio" else 1
        conc = o.concurrency if r.provider == "twilio" else o.sendgrid_concurrency
        _, _, fut = await generate(
            workdir,
            stack.base_url,
            split(r.plan.requests, gens),
            duration=o.duration,
            rate=o.rate if r.provider == "twilio" else None,
            concurrency=conc,
            name=f"{name}-{r.provider}",
            start_at=start_at,
        )
        futures.append(fut)
    await at(start_at + o.warmup)
    cpu0, t0 = stack.cpu(), time.time()
    await at(start_at + o.duration)
    cpu1, t1 = stack.cpu(), time.time()
    for r, fut in zip(runs, futures, strict=True):
        r.result = await fut
    # The window ends when the load did (a plan that ran out ends it sooner).
    last = max((row[3] for r in runs if r.result for row in r.result.rows), default=o.duration)
    end = min(o.duration, last)
    figures: dict[str, Any] = {}
    events = requests = 0.0
    for r in runs:
        assert r.result is not None
        f = window_figures(r.result, r.plan.weights, o.warmup, end)
        figures[r.provider] = f
        events += f["events_per_s"]
        requests += f["requests_per_s"]
    span = t1 - t0
    used = {k: cpu1[k] - cpu0[k] for k in cpu1}
    per_k = {k: v / max(1e-9, events * span) * 1e6 for k, v in used.items()}  # ms per 1,000 events
    out = {
        "window_s": round(end - o.warmup, 2),
        "events_per_s": events,
        "requests_per_s": requests,
        "cores": {k: v / span for k, v in used.items()},
        "cpu_ms_per_1000_events": per_k,
        "by_provider": figures,
    }
    lat = " / ".join(
        f"{p} p50 {f['latency_ms']['p50'] or 0:.1f} p99 {f['latency_ms']['p99'] or 0:.1f} ms"
        for p, f in figures.items()
    )
    print(
        f"[callbacks] {name}: {events:,.0f} events/s ({requests:,.0f} callbacks/s); API {per_k['api']:.0f} ms,"
        f" PostgreSQL {per_k['postgres']:.0f} ms CPU per 1,000 events; {lat}"
    )
    return out


# -- the check --


def expected(runs: list[Run]) -> dict[str, Any]:
    """What the log must hold after every answered callback, and how many callbacks are in
    doubt (no answer: they may or may not have been recorded)."""
    events: dict[tuple[uuid.UUID, str], Expect] = {}
    doubtful = 0
    for r in runs:
        assert r.result is not None
        for n, _, _, _, status in r.result.rows:
            if status == 200:
                for e in r.plan.expects[n]:
                    events.setdefault((e[0], e[1][:200]), e)
            elif r.plan.expects[n]:
                doubtful += 1
    outcome: dict[uuid.UUID, str] = {}
    for d, _, kind, code, _, _ in sorted(events.values(), key=lambda e: e[1]):
        verdict = "soft_bounced" if kind == "bounced" and code == "soft" else kind
        if verdict in OUTCOME_RANK and OUTCOME_RANK[verdict] > OUTCOME_RANK.get(outcome.get(d, "sent"), 0):
            outcome[d] = verdict
    engaged = {k: [e for e in events.values() if e[2] == k] for k in ("opened", "clicked")}
    counts = {
        "events": len(events),
        "delivered": sum(1 for v in outcome.values() if v == "delivered"),
        "undelivered": sum(1 for v in outcome.values() if v == "undelivered"),
        "bounced": sum(1 for v in outcome.values() if v == "bounced"),
        "soft_bounced": sum(1 for v in outcome.values() if v == "soft_bounced"),
        "opened": len(engaged["opened"]),
        "opened_unique": len({e[0] for e in engaged["opened"]}),
        "clicked": len(engaged["clicked"]),
        "clicked_unique": len({e[0] for e in engaged["clicked"]}),
        "suppressions": len({e[4] for e in events.values() if e[5]}),
    }
    return {"counts": counts, "doubtful_callbacks": doubtful}


async def found(stack: Stack) -> dict[str, int]:
    one = await scalar_rows(
        stack,
        "SELECT (SELECT count(*) FROM delivery_events),"
        " (SELECT count(*) FROM deliveries WHERE outcome = 'delivered'),"
        " (SELECT count(*) FROM deliveries WHERE outcome = 'undelivered'),"
        " (SELECT count(*) FROM deliveries WHERE outcome = 'bounced'),"
        " (SELECT count(*) FROM deliveries WHERE outcome = 'soft_bounced'),"
        " (SELECT coalesce(sum(count), 0) FROM engagements WHERE kind = 'opened'),"
        " (SELECT count(*) FROM engagements WHERE kind = 'opened'),"
        " (SELECT coalesce(sum(count), 0) FROM engagements WHERE kind = 'clicked'),"
        " (SELECT count(*) FROM engagements WHERE kind = 'clicked'),"
        " (SELECT count(*) FROM suppressions)",
    )
    names = ["events", "delivered", "undelivered", "bounced", "soft_bounced", "opened", "opened_unique", "clicked"]
    names += ["clicked_unique", "suppressions"]
    out = {f"log.{k}": int(v) for k, v in zip(names, one[0], strict=True)}
    await fold_rollups(stack)
    for table in ("analytics_hourly", "analytics_daily"):
        cols = ["delivered", "undelivered", "bounced", "opened", "opened_unique", "clicked", "clicked_unique"]
        row = (await scalar_rows(stack, f"SELECT {', '.join(f'coalesce(sum({c}), 0)' for c in cols)} FROM {table}"))[0]
        out |= {f"{table}.{c}": int(v) for c, v in zip(cols, row, strict=True)}
    return out


def compare(want: dict[str, Any], got: dict[str, int]) -> dict[str, Any]:
    """Every figure found against the expected one; with callbacks in doubt, a found figure may
    exceed it by at most their events (never fall short)."""
    slack = want["doubtful_callbacks"] * 100
    mismatches = {}
    for key, value in got.items():
        name = key.split(".", 1)[1]
        exp = want["counts"][name]
        if not (exp <= value <= exp + slack):
            mismatches[key] = {"expected": exp, "found": value}
    return {"ok": not mismatches, "mismatches": mismatches, "expected": want["counts"], "found": got}


# -- the run --


async def main(o: Options) -> dict[str, Any]:
    busy = await machine_busy()
    doc: dict[str, Any] = {
        "system": "callbacks",
        "started_at": datetime.now(UTC).isoformat(),
        "busy_before_pct": round(100 * busy, 1),
        "options": {k: str(v) for k, v in asdict(o).items()},
    }
    workdir = Path(tempfile.mkdtemp(prefix="herald-callbacks-"))
    rng = random.Random(o.seed)
    started = time.time()
    stack = await start(workdir, api_workers=o.api_workers)
    all_runs: list[Run] = []
    try:
        t = time.time()
        plans: dict[str, list[Run]] = {}
        for name in o.phases:
            runs = []
            if name in ("twilio", "mixed"):
                n = o.twilio_deliveries if name == "twilio" else o.mixed_deliveries
                sms = await seed(stack, "sms", "twilio", n, f"{name}-sms")
                runs.append(Run("twilio", twilio_plan(stack, sms, rng)))
            if name in ("sendgrid", "mixed"):
                n = o.sendgrid_deliveries if name == "sendgrid" else o.mixed_deliveries
                mail = await seed(stack, "email", "sendgrid", n, f"{name}-email")
                runs.append(Run("sendgrid", sendgrid_plan(stack, mail, rng, o.batch)))
            plans[name] = runs
        seeded = await scalar_rows(stack, "SELECT count(*) FROM deliveries")
        doc["seeded_deliveries"] = int(seeded[0][0])
        doc["prepare_s"] = round(time.time() - t, 1)
        print(
            f"[callbacks] {doc['seeded_deliveries']:,} sent deliveries in the log,"
            f" callbacks signed ({doc['prepare_s']} s)"
        )
        # Unmeasured: every code path once (the first requests load modules, prepare statements).
        warm = Plan()
        warm_sms = await seed(stack, "sms", "twilio", 200, "warm-sms")
        warm_mail = await seed(stack, "email", "sendgrid", 200, "warm-email")
        for p in (twilio_plan(stack, warm_sms, rng), sendgrid_plan(stack, warm_mail, rng, 20)):
            warm.requests += p.requests
            warm.expects += p.expects
            warm.weights += p.weights
        _, _, fut = await generate(workdir, stack.base_url, [warm.requests], duration=10, concurrency=16, name="warm")
        warm_run = Run("warm", warm, await fut)
        all_runs.append(warm_run)
        doc["phases"] = {}
        for name, runs in plans.items():
            doc["phases"][name] = await phase(stack, workdir, name, runs, o)
            all_runs += runs
        want = expected(all_runs)
        doc["check"] = compare(want, await found(stack))
        doc["check"]["doubtful_callbacks"] = want["doubtful_callbacks"]
    finally:
        await stack.stop()
    doc["elapsed_s"] = round(time.time() - started, 1)
    doc["versions"] = versions()
    return doc


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, ph in doc.get("phases", {}).items():
        rate = ph["events_per_s"]
        cpu = ph["cpu_ms_per_1000_events"]
        ok = rate >= 3000 and doc["check"]["ok"]
        shown = (
            f"{rate:,.0f} events/s; CPU per 1,000 events: API {cpu['api']:.0f} ms, PostgreSQL {cpu['postgres']:.0f} ms"
        )
        if doc["options"].get("rate") not in (None, "None"):
            # Open loop: a server that falls behind the offered rate shows as a latency that
            # grows through the window; keeping up means its p99 stays under a second, and its
            # measured rate is the offered one less the window's edges.
            p99 = max((f["latency_ms"]["p99"] or 0.0) for f in ph["by_provider"].values())
            ok = rate >= 3000 * OPEN_LOOP_EDGES and doc["check"]["ok"] and p99 <= SUSTAINED_P99_MS
            shown += f"; open loop at {float(doc['options']['rate']):,.0f}/s, p99 {p99:,.0f} ms"
        out.append(
            {
                "target": f"callback ingestion ({name}) >= 3,000 events/s, exact log and rollups",
                "value": rate,
                "shown": shown,
                "status": "MET" if ok else "MISSED",
            }
        )
    check = doc.get("check", {})
    out.append(
        {
            "target": "log, outcomes, engagement, suppressions and rollups exactly as the answered callbacks say",
            "value": None,
            "shown": "exact" if check.get("ok") else f"mismatches: {check.get('mismatches')}",
            "status": "MET" if check.get("ok") else "MISSED",
        }
    )
    return out


def render(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"Herald callback ingestion, PostgreSQL + Redis ({doc['busy_before_pct']:.0f}% busy before,"
        f" {doc['elapsed_s']} s)"
    )
    t.add_column("phase", style="bold")
    t.add_column("events/s", justify="right")
    t.add_column("callbacks/s", justify="right")
    t.add_column("p50 / p99 ms", justify="right")
    t.add_column("API / PG ms CPU per 1k events", justify="right")
    t.add_column("API / PG / generator cores", justify="right")
    for name, ph in doc.get("phases", {}).items():
        lat = ", ".join(
            f"{p[0]} {f['latency_ms']['p50'] or 0:.1f} / {f['latency_ms']['p99'] or 0:.1f}"
            for p, f in ph["by_provider"].items()
        )
        gen = sum(f["generator_cores"] for f in ph["by_provider"].values())
        cpu, cores = ph["cpu_ms_per_1000_events"], ph["cores"]
        t.add_row(
            name,
            f"{ph['events_per_s']:,.0f}",
            f"{ph['requests_per_s']:,.0f}",
            lat,
            f"{cpu['api']:.0f} / {cpu['postgres']:.0f}",
            f"{cores['api']:.2f} / {cores['postgres']:.2f} / {gen:.2f}",
        )
    Console(width=140).print(t)
    check = doc.get("check", {})
    print(f"check: expected {check.get('expected')}")
    for x in targets(doc):
        print(f"  {x['target']}: {x['shown']} -> {x['status']}")


def cli(argv: list[str] | None = None) -> int:
    return run_bench(argv, parse, main, targets, render)


if __name__ == "__main__":
    sys.exit(cli())
