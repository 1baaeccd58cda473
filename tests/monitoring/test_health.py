"""Provider health as the workers report it: a broken provider's breaker shows open."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from herald.config import BreakerSettings, MonitorSettings, RouteSettings
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.monitoring.models import ProviderBeat
from herald.monitoring.reporter import Reporter
from herald.monitoring.schemas import ProviderHealth
from herald.providers.breaker import Breaker
from herald.providers.router import Router
from herald.runtime import Runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.smtp import SmtpSimulator
from tests.harness import Herald


async def _until(predicate: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def _smtp(runtime: Runtime) -> ProviderHealth | None:
    return next((h for h in await runtime.monitor().provider_health() if h.provider == "smtp"), None)


async def test_a_broken_provider_shows_its_breaker_open(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    runtime = herald.runtime
    runtime.settings.monitor = MonitorSettings(report_interval=timedelta(milliseconds=50))
    runtime.router.breaker_settings = BreakerSettings(
        window=4, min_calls=3, failure_ratio=0.5, cooldown=timedelta(hours=1)
    )
    await herald.user()
    await herald.template()
    for _ in range(4):
        assert (await herald.notify()).status_code == 202
    stop = asyncio.Event()
    reporting = asyncio.create_task(runtime.report(stop))
    await herald.drain()  # the sandbox accepts: the breaker is closed, its calls counted
    await _until(lambda: runtime.router.breaker(None, "smtp").calls >= 4)
    healthy = None
    async with asyncio.timeout(20):
        while healthy is None or healthy.calls < 4:
            healthy = await _smtp(runtime)
            await asyncio.sleep(0.02)
    assert (healthy.state, healthy.failures, healthy.error_rate, healthy.app_id) == ("closed", 0, 0.0, None)

    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))  # every send: 451, try later
    for _ in range(4):
        await herald.notify()
    working = asyncio.Event()
    worker = asyncio.create_task(runtime.worker(Channel.EMAIL).run(working))
    try:
        await _until(lambda: runtime.router.breaker(None, "smtp").state == "open")
    finally:
        working.set()
        await worker
    broken = None
    async with asyncio.timeout(20):  # the next report carries it
        while broken is None or broken.state != "open":
            broken = await _smtp(runtime)
            await asyncio.sleep(0.02)
    assert broken.failures >= 3 and broken.calls == broken.failures + 4
    assert broken.error_rate == broken.failures / broken.calls
    assert broken.reporters == 1

    stop.set()
    await reporting
    assert await _smtp(runtime) is None  # a process that stops withdraws its report


async def test_reports_of_several_processes_merge(runtime: Runtime) -> None:
    """Two worker processes: the worst state wins, calls and failures add up; a stale report
    (a killed process) is ignored."""
    settings = MonitorSettings(error_window=timedelta(minutes=5))
    one, two, dead = (Reporter(runtime.engine, runtime.router, runtime.throughput, settings) for _ in range(3))
    calm, failing = Breaker(min_calls=100), Breaker(window=2, min_calls=2)
    for ok in (True, True, True):
        calm.record(ok)
    for ok in (False, False):
        failing.record(ok)
    assert failing.state == "open"

    runtime.router._breakers = {(None, "twilio"): calm}
    await one.publish()
    runtime.router._breakers = {(None, "twilio"): failing}
    await two.publish()

    [twilio] = [h for h in await runtime.monitor().provider_health() if h.provider == "twilio"]
    assert (twilio.state, twilio.calls, twilio.failures, twilio.reporters) == ("open", 5, 2, 2)
    assert twilio.error_rate == 2 / 5

    runtime.router._breakers = {(None, "vonage"): failing}
    await dead.publish()
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(ProviderBeat)
            .where(ProviderBeat.reporter == dead.name)
            .values(reported_at=utcnow() - timedelta(minutes=1))
        )
    providers = {h.provider for h in await runtime.monitor().provider_health()}
    assert providers == {"twilio"}  # vonage's only report is a minute old: its process is gone


def test_the_error_rate_counts_the_window_only() -> None:
    """Calls older than the error window drop out of the reported counts."""
    now = [0.0]
    router = Router([], RouteSettings())
    reporter = Reporter(None, router, None, MonitorSettings(error_window=timedelta(seconds=60)), clock=lambda: now[0])  # type: ignore[arg-type]
    b = router.breaker(None, "sendgrid")
    b.min_calls = 1000
    for _ in range(5):
        b.record(False)
    assert [(r["calls"], r["failures"]) for r in reporter.beats()] == [(5, 5)]
    now[0] = 30.0
    assert [(r["calls"], r["failures"]) for r in reporter.beats()] == [(5, 5)]
    for _ in range(3):
        b.record(True)
    now[0] = 59.0
    assert [(r["calls"], r["failures"]) for r in reporter.beats()] == [(8, 5)]
    now[0] = 100.0  # the failures came before the report at 30 s, more than a minute ago
    assert [(r["calls"], r["failures"]) for r in reporter.beats()] == [(3, 0)]
