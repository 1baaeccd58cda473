"""`herald status`: the queues, the providers' health and the last hour, as the console shows them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from herald.cli.context import settings
from herald.monitoring.schemas import ChannelHistory, ProviderHealth, Snapshot
from herald.runtime import build_runtime

console = Console()


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    snapshot: Snapshot
    providers: list[ProviderHealth]
    history: list[ChannelHistory]


async def gather(window: timedelta) -> Status:
    runtime = build_runtime(settings())
    try:
        monitor = runtime.monitor()
        return Status(await monitor.snapshot(), await monitor.provider_health(), await monitor.history(window))
    finally:
        await runtime.close()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _print(status: Status) -> None:
    snap = status.snapshot
    console.print(f"[bold]Queues[/bold] ({snap.backend}, {snap.taken_at:%Y-%m-%d %H:%M:%S} UTC)")
    queues = Table("channel", "ready", "sending", "scheduled", "retrying", "dead", "oldest", "lag", "pending")
    for q in snap.queues:
        lag = "?" if q.consumer_lag is None else str(q.consumer_lag)
        counts = (q.ready, q.in_flight, q.scheduled, q.retrying, q.dead)
        queues.add_row(q.channel, *map(str, counts), f"{q.oldest_ready_age_seconds:.1f} s", lag, str(q.pending))
    console.print(queues)
    console.print("[bold]Providers[/bold] (as the running workers report them)")
    providers = Table("provider", "app", "breaker", "calls", "failures", "error rate", "workers")
    for p in status.providers:
        rate = "-" if p.error_rate is None else f"{p.error_rate:.0%}"
        app = p.app_id.hex if p.app_id else "(deployment)"
        providers.add_row(p.provider, app, p.state, str(p.calls), str(p.failures), rate, str(p.reporters))
    console.print(providers if status.providers else "  no worker is reporting")
    console.print("[bold]Last hour[/bold] (latency: accept to sent, in the last minute with sends)")
    history = Table("channel", "sent", "peak / min", "p50 ms", "p95 ms")
    for h in status.history:
        sent = [p.sent for p in h.points]
        last = next((p for p in reversed(h.points) if p.sent), None)
        p50, p95 = (last.p50_seconds, last.p95_seconds) if last else (None, None)
        history.add_row(h.channel, str(sum(sent)), str(max(sent, default=0)), _ms(p50), _ms(p95))
    console.print(history)


def status(
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON"),
    minutes: int = typer.Option(60, min=1, max=24 * 60, help="How many minutes of history"),
) -> None:
    """Queues per channel, provider health, and throughput and latency per minute."""
    result = asyncio.run(gather(timedelta(minutes=minutes)))
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), default=_plain, indent=2))
    else:
        _print(result)
