"""The production processes: `herald api`, `herald worker`, `herald relay`, `herald scheduler`.

Each can run any number of times on any host; they share nothing but the database and
Redis. SIGTERM drains gracefully: stop claiming, finish in-flight work, exit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer
import uvicorn
from rich.console import Console

from herald.cli.context import refuse_unsafe, settings
from herald.config import Settings
from herald.kit import filelock, heap, metrics
from herald.kit.channels import Channel
from herald.runtime import Runtime, build_runtime
from herald.serve import install_signals

console = Console()


def _uvloop() -> None:
    import uvloop

    uvloop.install()


_METRICS_PORT = typer.Option(
    None, "--metrics-port", help="Serve Prometheus metrics on this port (default HERALD_METRICS__PORT; none: off)"
)


def _share_database(s: Settings) -> None:
    """On SQLite, keep `herald run` (which assumes it is alone) off this process's database."""
    try:
        filelock.hold(s.effective_database_url(), exclusive=False)
    except filelock.DatabaseInUse as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None


def _serve(body: Callable[[Runtime, asyncio.Event], Awaitable[None]], metrics_port: int | None = None) -> None:
    s = settings()
    refuse_unsafe(s)
    _share_database(s)
    port = metrics_port if metrics_port is not None else s.metrics.port
    if port is not None:
        metrics.serve(port, s.metrics.host)

    async def main() -> None:
        runtime = build_runtime(s)
        stop = asyncio.Event()
        install_signals(stop)
        heap.settle()
        try:
            await body(runtime, stop)
        finally:
            await runtime.close()

    _uvloop()
    asyncio.run(main())


def api(
    host: str | None = typer.Option(None, help="Bind address (default HERALD_API__HOST)"),
    port: int | None = typer.Option(None, help="Port (default HERALD_API__PORT)"),
    workers: int | None = typer.Option(None, help="Server processes (default HERALD_API__WORKERS)"),
) -> None:
    """Serve the HTTP API (no workers): scale with --workers and more hosts."""
    s = settings()
    refuse_unsafe(s)
    _share_database(s)
    uvicorn.run(
        "herald.serve:create_api",
        factory=True,
        host=host or s.api.host,
        port=port or s.api.port,
        workers=workers or s.api.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        # uvicorn pings each worker process and kills one that takes over 5 s (its default) to
        # answer. A CPU-saturated machine, or a worker still importing, can take longer: the
        # supervisor would then kill and respawn workers in a loop, each respawn costing
        # seconds of CPU. A worker that is really hung is still replaced, a minute later.
        timeout_worker_healthcheck=60,
    )


def worker(
    channel: list[Channel] = typer.Option(..., "--channel", "-c", help="Channel(s) to work: email, sms, push"),
    concurrency: int | None = typer.Option(
        None, help="In-flight sends per channel (default HERALD_WORKER__CONCURRENCY)"
    ),
    metrics_port: int | None = _METRICS_PORT,
) -> None:
    """Deliver one or more channels' queues and the webhook messages owed, and fold the
    analytics increments."""

    async def body(runtime: Runtime, stop: asyncio.Event) -> None:
        console.print(f"worker: {', '.join(c.value for c in channel)}")
        # Each worker also posts the webhook messages owed: any number may, side by side.
        await asyncio.gather(
            *(runtime.worker(c, concurrency=concurrency).run(stop) for c in channel),
            runtime.webhooks(stop),
            runtime.report(stop),
            runtime.fold_rollups(stop),
        )

    _serve(body, metrics_port)


def relay(metrics_port: int | None = _METRICS_PORT) -> None:
    """Publish committed outbox rows to the broker."""

    async def body(runtime: Runtime, stop: asyncio.Event) -> None:
        await runtime.relay(stop)

    _serve(body, metrics_port)


def scheduler(metrics_port: int | None = _METRICS_PORT) -> None:
    """Release scheduled sends, promote due retries, and re-drive anything a queue lost."""

    async def body(runtime: Runtime, stop: asyncio.Event) -> None:
        await runtime.housekeeping(stop)

    _serve(body, metrics_port)
