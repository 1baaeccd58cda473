"""The chaos run: drive notifications through Herald while its processes and engines die.

    python -m bench.chaos --backend postgres|sqlite -n 100000 [--seed S] [--kill-every 10] [--json out.json]

The simulators answer 20% transient errors, drop 2% of connections after accepting, and
throttle in bursts; a worker is SIGKILLed every `--kill-every` seconds and restarted; on
PostgreSQL + Redis both engines (private instances) are restarted once mid-drive. Then it
waits for quiescence and checks every notification against the device inboxes. One summary
line; exit status 1 if any accepted notification is lost (or the figures are inconsistent).

Meanwhile Twilio, Vonage, SendGrid and Mailchimp post their signed receipts to Herald
(`--no-callbacks` to leave them out): 200 ms late, 20% twice, reordered within 500 ms, 5%
never; some users' numbers and addresses fail at the provider (undelivered, bounced), SMS
to +44 goes to Vonage first and email to SendGrid, then Mailchimp. After the drain the
callbacks are drained too and audited (bench/chaos_callbacks.py): every delivery's outcome,
timeline and suppressions against what the simulators' callbacks said, per provider.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_audit import Figures, Ledger, classify, drain, postmortem, rollups, unknown_resends
from bench.chaos_callbacks import MAILCHIMP_LATE_FAULTS, PROVIDERS, CallbackFaults
from bench.chaos_callbacks import audit as audit_callbacks
from bench.chaos_load import PLATFORMS, Driver, Fates, Progress, plan, seed
from bench.cluster import Herald, Postgres, Proc, Redis, SandboxProcess, free_port

# Each simulator's own transient code: 20% of requests fail with it.
TRANSIENT = {
    "apns": "ServiceUnavailable",
    "fcm": "UNAVAILABLE",
    "webpush": "503",
    "twilio": "503",
    "vonage": "1",
    "sendgrid": "503",
    "mailchimp": "ServiceUnavailable",
    "smtp": "451",
}
# Small ladders so that the run converges in minutes: few dead letters, fast reclaiming.
TUNING = {
    "HERALD_RETRY__BASE": "0.2",
    "HERALD_RETRY__CAP": "2",
    "HERALD_RETRY__MAX_ATTEMPTS": "30",
    "HERALD_WORKER__LEASE": "5",
    "HERALD_RECONCILER__GRACE": "5",
    "HERALD_RECONCILER__INTERVAL": "2",
    # A 429 burst opens a breaker; the default 30 s cool-down would stall a channel.
    "HERALD_BREAKER__COOLDOWN": "2",
}
CHANNELS = ("push", "sms", "email")
# With callbacks, email goes to the providers that call back (SMTP only when both fail).
CALLBACK_ROUTES = {"HERALD_ROUTES__EMAIL": json.dumps(["sendgrid", "mailchimp", "smtp"])}


@dataclass(frozen=True)
class Config:
    """One run's knobs; the defaults are the full run of the issue."""

    backend: str = "postgres"
    n: int = 100_000
    seed: int = 1
    users: int = 0  # 0: n/10
    kill_every: float = 10.0
    max_kills: int | None = None
    restarts: tuple[str, ...] = ("redis", "postgres")
    batch: int = 200
    concurrency: int = 8
    api_workers: int = 2
    error_rate: float = 0.20
    drop_rate: float = 0.02
    burst_every: float = 5.0
    burst_seconds: float = 1.0
    burst_sims: tuple[str, ...] = tuple(sorted(TRANSIENT))
    platforms: tuple[tuple[str, int], ...] = PLATFORMS
    herald_env: tuple[tuple[str, str], ...] = ()
    callbacks: bool = True
    callback_faults: CallbackFaults = field(default_factory=CallbackFaults)
    uk: float = 0.3  # users with a +44 number (Vonage first)
    failing: float = 0.1  # users whose number and address their providers report as failing
    window: float = 180.0
    stall: float = 120.0
    drain_limit: float = 1800.0
    workdir: Path | None = None
    keep: bool = False
    quiet: bool = False
    json: Path | None = None

    @property
    def user_count(self) -> int:
        return self.users or max(10, self.n // 10)


class Deployment:
    """Herald's processes on one backend, the sandbox and engines, and the ways to hurt them."""

    def __init__(self, sandbox: SandboxProcess, engines: list[Postgres | Redis]) -> None:
        self.sandbox = sandbox
        self.engines = engines
        self.redis = next((e for e in engines if isinstance(e, Redis)), None)
        self.postgres = next((e for e in engines if isinstance(e, Postgres)), None)
        self.herald: Herald | None = None
        self.api_url = ""
        self.creds = ("", "")
        self.victims: list[Proc] = []

    async def kill_one(self, rng: random.Random) -> str:
        """SIGKILL a random victim and start it again."""
        assert self.herald is not None
        k = rng.randrange(len(self.victims))
        victim = self.victims[k]
        self.victims[k] = await self.herald.restart(victim)
        return victim.name

    async def stop(self) -> None:
        if self.herald is not None:
            await self.herald.stop()
        for part in [self.sandbox, *self.engines]:
            with contextlib.suppress(Exception):
                await part.stop()


def _sandbox_env(sandbox: SandboxProcess, callbacks: bool) -> dict[str, str]:
    """The sandbox's env; without callbacks, plus a Twilio status callback URL that carries
    Herald's key into the inbox (with them, the URL is Herald's own, key included)."""
    env = dict(sandbox.env)
    if callbacks:
        return env | CALLBACK_ROUTES
    providers = json.loads(env["HERALD_PROVIDERS"])
    providers["twilio"]["status_callback_url"] = f"{sandbox.base_url}/_chaos/twilio-status"
    env["HERALD_PROVIDERS"] = json.dumps(providers)
    return env


async def _engines(cfg: Config, workdir: Path, api_url: str | None) -> Deployment:
    """The sandbox and, on the production backend, private PostgreSQL and Redis, started
    together; `api_url`: where Herald's API will listen, for the simulators' callbacks."""
    starts: list[Any] = [SandboxProcess.start(workdir / "sandbox", callbacks=api_url is not None, callbacks_to=api_url)]
    if cfg.backend == "postgres":
        starts += [Postgres.private(workdir / "pg"), Redis.private(workdir / "redis")]
    parts = await asyncio.gather(*starts, return_exceptions=True)
    failed = [p for p in parts if isinstance(p, BaseException)]
    if failed:
        for p in parts:
            if not isinstance(p, BaseException):
                await p.stop()
        raise failed[0]
    sandbox, *engines = parts
    assert isinstance(sandbox, SandboxProcess)
    return Deployment(sandbox, [e for e in engines if isinstance(e, Postgres | Redis)])


async def deploy(cfg: Config, workdir: Path) -> Deployment:
    """Everything started and ready: the API answers, every worker is running."""
    # The API's port is chosen first: the simulators must know where to call back, and the
    # provider configs they hand over carry the secrets that verify them.
    port = free_port()
    dep = await _engines(cfg, workdir, f"http://127.0.0.1:{port}" if cfg.callbacks else None)
    try:
        env = {**_sandbox_env(dep.sandbox, cfg.callbacks), **TUNING, **dict(cfg.herald_env)}
        if dep.postgres is not None and dep.redis is not None:
            env |= {"HERALD_DATABASE_URL": await dep.postgres.create_database("herald_chaos")}
            env |= {"HERALD_REDIS_URL": dep.redis.url}
        herald = dep.herald = Herald(workdir / "herald", env)
        await herald.migrate()
        dep.creds = await herald.create_app("chaos")
        if cfg.backend == "sqlite":
            dep.api_url = await herald.all_in_one(port=port)
            dep.victims = [herald.procs[-1]]
            return dep
        url, *procs = await asyncio.gather(
            herald.api(workers=cfg.api_workers, port=port),
            *(herald.worker(c) for c in CHANNELS),
            herald.relay(),
            herald.scheduler(),
        )
        dep.api_url = str(url)
        dep.victims = [p for p in procs if isinstance(p, Proc) and p.name.startswith("worker-")]
    except BaseException:
        await dep.stop()
        raise
    return dep


def _faults(cfg: Config, sim: str, throttle: int = 0) -> dict[str, Any]:
    late = MAILCHIMP_LATE_FAULTS if cfg.callbacks and sim == "mailchimp" else {}
    return {
        "error_rates": {TRANSIENT[sim]: cfg.error_rate, **late},
        "drop_rate": cfg.drop_rate,
        "throttle_count": throttle,
        "throttle_retry_after": 1,
    }


class Monkey:
    """Kills a worker every `kill_every` s, bursts 429s, restarts Redis and PostgreSQL once each."""

    def __init__(self, cfg: Config, dep: Deployment, sandbox: SandboxProcess, progress: Progress, log: Any) -> None:
        self.cfg, self.dep, self.sandbox, self.progress, self.log = cfg, dep, sandbox, progress, log
        self.rng = random.Random(cfg.seed + 1)
        self.stop = asyncio.Event()
        self.kills = 0
        self.restarts: list[str] = []

    async def _restart_engines(self) -> None:
        plan_: list[tuple[float, str, Postgres | Redis | None]] = [
            (1 / 3, "redis", self.dep.redis),
            (2 / 3, "postgres", self.dep.postgres),
        ]
        for fraction, name, engine in plan_:
            if engine is None or name not in self.cfg.restarts:
                continue
            while self.progress.accepted < fraction * self.progress.total and not self.stop.is_set():
                await asyncio.sleep(0.05)
            if self.stop.is_set():
                return
            t0 = time.monotonic()
            await engine.restart()
            self.restarts.append(name)
            self.log(f"restarted {name} at {self.progress.accepted} accepted ({time.monotonic() - t0:.1f}s)")

    async def _kills(self) -> None:
        while not self.stop.is_set() and (self.cfg.max_kills is None or self.kills < self.cfg.max_kills):
            await self._pause(self.cfg.kill_every)
            if self.stop.is_set():
                return
            name = await self.dep.kill_one(self.rng)
            self.kills += 1
            self.log(f"SIGKILLed and restarted {name} (kill {self.kills}, {self.progress.accepted} accepted)")

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _bursts(self) -> None:
        """Now and then one provider answers every request with its 429 for a second or so.

        Throttling is by time, as providers do it: a burst counted in requests would never
        end once a breaker lets only one probe through per cool-down.
        """
        while not self.stop.is_set() and self.cfg.burst_sims:
            await self._pause(self.cfg.burst_every)
            sim = self.rng.choice(self.cfg.burst_sims)
            with contextlib.suppress(httpx.HTTPError):
                await self.sandbox.set_faults(sim, _faults(self.cfg, sim, throttle=1_000_000))
                await self._pause(self.cfg.burst_seconds)
                await self.sandbox.set_faults(sim, _faults(self.cfg, sim))

    async def run(self) -> None:
        await asyncio.gather(self._restart_engines(), self._kills(), self._bursts())


async def _chaos(cfg: Config, workdir: Path, log: Callable[[str], None]) -> Figures:
    t0 = time.monotonic()
    dep = await deploy(cfg, workdir)
    log(f"deployed ({time.monotonic() - t0:.1f}s)")
    try:
        return await _exercise(cfg, Figures(cfg.backend, cfg.n), dep, log, t0)
    finally:
        await dep.stop()


async def _exercise(cfg: Config, figures: Figures, dep: Deployment, log: Callable[[str], None], t0: float) -> Figures:
    assert dep.herald is not None
    sandbox, rng = dep.sandbox, random.Random(cfg.seed)
    ledger = Ledger(dep.herald.database_url)
    limits = httpx.Limits(max_connections=cfg.concurrency * 2)
    async with httpx.AsyncClient(base_url=dep.api_url, auth=dep.creds, timeout=60, limits=limits) as client:
        await ledger.bind(dep.creds[0])
        users = await seed(
            client,
            sandbox.base_url,
            cfg.user_count,
            rng,
            concurrency=cfg.concurrency,
            window=cfg.window,
            mix=cfg.platforms,
            fates=Fates(uk=cfg.uk, failing=cfg.failing, seed=cfg.seed + 2) if cfg.callbacks else None,
        )
        log(f"seeded {len(users)} users ({time.monotonic() - t0:.1f}s)")
        for sim in TRANSIENT:
            await sandbox.set_faults(sim, _faults(cfg, sim))
        if cfg.callbacks:
            for k, sim in enumerate(PROVIDERS):
                await sandbox.set_callbacks(sim, cfg.callback_faults.settings(cfg.seed * 10 + k))
        notifications = plan(cfg.n, users, rng, f"{cfg.seed}")
        progress = Progress(cfg.n)
        monkey = Monkey(cfg, dep, sandbox, progress, log)
        chaos = asyncio.create_task(monkey.run())
        try:
            drive = await Driver(client, progress, window=cfg.window).drive(
                notifications, batch=cfg.batch, concurrency=cfg.concurrency
            )
            log(f"drove {len(drive.accepted)} accepted in {drive.wall:.1f}s ({drive.retries} retried requests)")
            t_drain = time.monotonic()
            await drain(ledger, settle=3.0, stall=cfg.stall, limit=cfg.drain_limit, on_empty=monkey.stop.set, log=log)
            figures.drain_wall = time.monotonic() - t_drain
        finally:
            monkey.stop.set()
            await chaos
    refused: set[str] = set()
    if cfg.callbacks:
        t_cb = time.monotonic()
        cb, refused = await audit_callbacks(ledger, sandbox.base_url, cfg.callback_faults)
        figures.callbacks, figures.callback_problems = cb.as_json(), cb.problems()
        log(f"{cb.line()} ({time.monotonic() - t_cb:.1f}s to drain and audit)")
    assert ledger.app_id is not None
    figures.rollups, figures.rollup_problems = await rollups(dep.herald.database_url, ledger.app_id)
    log(f"rollups: {figures.rollups}")
    events, deliveries, attempts = await ledger.rows()
    await ledger.close()
    inbox = await sandbox.summary()
    # For a post-mortem when the work directory is kept: what each device received, by key,
    # and every unfinished delivery with its attempts.
    (dep.herald.workdir / "inbox-summary.json").write_text(json.dumps(inbox))
    (dep.herald.workdir / "unfinished.json").write_text(json.dumps(postmortem(deliveries, attempts, inbox), indent=1))
    figures.accepted, figures.drive_wall = len(drive.accepted), drive.wall
    figures.not_accepted, figures.rejected = len(drive.unaccepted), len(drive.rejected)
    figures.attempts, figures.unknown_resends = len(attempts), unknown_resends(attempts)
    figures.kills, figures.restarts = monkey.kills, monkey.restarts
    classify(figures, drive.accepted, events, deliveries, inbox, refused)
    figures.wall = time.monotonic() - t0
    return figures


async def run_chaos(cfg: Config, log: Callable[[str], None] | None = None) -> Figures:
    """The whole run in a work directory (kept on failure or with `keep`); returns the figures."""
    say = log or (lambda m: None if cfg.quiet else print(f"  [chaos] {m}", file=sys.stderr, flush=True))
    workdir = cfg.workdir or Path(tempfile.mkdtemp(prefix=f"herald-chaos-{cfg.backend}-"))
    say(f"work directory {workdir}")
    figures = await _chaos(cfg, workdir, say)
    if figures.problems() or cfg.keep:
        say(f"logs kept in {workdir}")
    elif cfg.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def parse(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("-n", type=int, default=100_000, help="notifications to drive")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kill-every", type=float, default=10.0, help="seconds between worker SIGKILLs")
    p.add_argument("--kills", type=int, default=None, help="stop after this many kills (default: no limit)")
    p.add_argument("--restarts", default="redis,postgres", help="engines to restart once mid-drive ('' for none)")
    p.add_argument("--users", type=int, default=0, help="default n/10")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--error-rate", type=float, default=0.20)
    p.add_argument("--drop-rate", type=float, default=0.02)
    p.add_argument("--burst-every", type=float, default=5.0, help="seconds between 429 bursts")
    p.add_argument("--burst-seconds", type=float, default=1.0, help="how long one provider throttles")
    p.add_argument("--burst-sims", default=",".join(sorted(TRANSIENT)), help="simulators that get 429 bursts")
    p.add_argument("--no-callbacks", action="store_true", help="no provider callbacks (the run before issue 22)")
    p.add_argument("--cb-delay-ms", type=float, default=200.0, help="callbacks: delay before each")
    p.add_argument("--cb-duplicate-rate", type=float, default=0.2, help="callbacks: share sent twice")
    p.add_argument("--cb-reorder-ms", type=float, default=500.0, help="callbacks: reordering window")
    p.add_argument("--cb-drop-rate", type=float, default=0.05, help="callbacks: share never sent")
    p.add_argument("--uk", type=float, default=0.3, help="users with a +44 number (Vonage first)")
    p.add_argument("--failing", type=float, default=0.1, help="users whose numbers/addresses fail")
    p.add_argument("--herald-env", action="append", default=[], metavar="KEY=VALUE", help="extra Herald setting")
    p.add_argument("--window", type=float, default=180.0, help="seconds to keep retrying one request")
    p.add_argument("--drain-limit", type=float, default=1800.0, help="seconds to wait for quiescence at most")
    p.add_argument("--stall", type=float, default=120.0, help="give up the drain after this long without progress")
    p.add_argument("--platforms", default="ios=2,android=2,web=1", help="push devices by platform, as weights")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    return Config(
        backend=a.backend,
        n=a.n,
        seed=a.seed,
        users=a.users or 0,
        kill_every=a.kill_every,
        max_kills=a.kills,
        restarts=_names(a.restarts),
        batch=a.batch,
        concurrency=a.concurrency,
        api_workers=a.api_workers,
        error_rate=a.error_rate,
        drop_rate=a.drop_rate,
        burst_every=a.burst_every,
        burst_seconds=a.burst_seconds,
        burst_sims=_names(a.burst_sims),
        platforms=_weights(a.platforms),
        herald_env=tuple((k, v) for k, _, v in (kv.partition("=") for kv in a.herald_env)),
        callbacks=not a.no_callbacks,
        callback_faults=CallbackFaults(
            delay_ms=a.cb_delay_ms,
            duplicate_rate=a.cb_duplicate_rate,
            reorder_window_ms=a.cb_reorder_ms,
            drop_rate=a.cb_drop_rate,
        ),
        uk=a.uk,
        failing=a.failing,
        window=a.window,
        stall=a.stall,
        drain_limit=a.drain_limit,
        workdir=a.workdir,
        keep=a.keep,
        quiet=a.quiet,
        json=a.json,
    )


def _callbacks_line(cb: dict[str, Any]) -> str:
    """Per provider: callbacks sent, duplicated, dropped, retried, recorded, lookups found."""
    parts = [
        f"{name} sent={p['sent']} dup={p['duplicated']} dropped={p['dropped']} retried={p['retried']} "
        f"recorded={p['recorded']} lookups_found={p['lookups_found']}"
        for name, p in cb["providers"].items()
    ]
    checks = (
        f"outcomes_checked={cb['outcome_checked']} ties={cb['ties']} wrong={cb['outcome_wrong']} "
        f"timeline_missing={cb['timeline_missing']} timeline_extra={cb['timeline_extra']} "
        f"suppressions={cb['suppressions_expected']} missing={cb['suppressions_missing']} "
        f"extra={cb['suppressions_extra']}"
    )
    return "chaos callbacks " + " | ".join(parts) + " | " + checks


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _weights(text: str) -> tuple[tuple[str, int], ...]:
    pairs = [part.split("=") for part in text.split(",") if part]
    return tuple((name.strip(), int(weight)) for name, weight in pairs)


async def _main(cfg: Config) -> Figures:
    # SIGTERM cancels the run like Ctrl-C does, so every started process is stopped.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_chaos(cfg)


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    figures = asyncio.run(_main(cfg))
    print(figures.line(), flush=True)
    if figures.callbacks:
        print(_callbacks_line(figures.callbacks), flush=True)
    if cfg.json is not None:
        cfg.json.write_text(json.dumps(figures.as_json(), indent=2))
    problems = figures.problems()
    for problem in problems:
        print(f"chaos: FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
