"""Serving: `herald run`, the whole service in one process on one event loop, and the ASGI app
of each `herald api` server process.

`herald run` serves the API, one worker per channel, the scheduler and (by default) the
provider sandbox, sharing a runtime. SIGINT/SIGTERM stop claiming, drain in-flight work,
then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import uvicorn
from fastapi import FastAPI

from herald.api.app import create_app
from herald.config import Settings
from herald.kit import heap
from herald.kit.channels import Channel
from herald.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)


def install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


async def run_workers(
    runtime: Runtime, channels: list[Channel], stop: asyncio.Event, *, scheduler: bool = True
) -> None:
    """Every background loop of one process: workers, scheduler and reconciler (a no-op with the
    in-database queue, which loses nothing), with an external broker the outbox relay, and the
    webhook dispatcher (unless HERALD_WEBHOOKS__ENABLED is off)."""
    tasks = [asyncio.create_task(runtime.worker(c).run(stop), name=f"worker-{c.value}") for c in channels]
    if scheduler:  # the analytics folder with it
        tasks.append(asyncio.create_task(runtime.housekeeping(stop), name="housekeeping"))
    else:
        tasks.append(asyncio.create_task(runtime.fold_rollups(stop), name="analytics-folder"))
    if runtime.broker.uses_outbox:
        tasks.append(asyncio.create_task(runtime.relay(stop), name="relay"))
    tasks.append(asyncio.create_task(runtime.webhooks(stop), name="webhooks"))
    tasks.append(asyncio.create_task(runtime.report(stop), name="monitoring-report"))
    await asyncio.gather(*tasks)


class _QuietServer(uvicorn.Server):
    """Signals belong to `herald run`, which drains workers before the API goes away."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_api(runtime: Runtime, stop: asyncio.Event, host: str, port: int) -> None:
    config = uvicorn.Config(
        create_app(runtime.api_services()),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="none",
        timeout_graceful_shutdown=10,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


async def serve_all(
    settings: Settings, runtime: Runtime, *, on_ready: Callable[[], Awaitable[None]] | None = None
) -> None:
    stop = asyncio.Event()
    install_signals(stop)
    api = asyncio.create_task(serve_api(runtime, stop, settings.api.host, settings.api.port))
    workers = asyncio.create_task(run_workers(runtime, settings.working_channels(), stop))
    sampler = asyncio.create_task(runtime.sample_queues(stop))
    if on_ready is not None:
        await on_ready()
    await stop.wait()
    log.info("stopping: draining in-flight deliveries")
    await asyncio.gather(api, workers, sampler)


def create_api() -> FastAPI:
    """Uvicorn factory for `herald api`: `uvicorn --factory herald.serve:create_api`. One
    runtime per server process, from the environment."""
    runtime = build_runtime(Settings())
    app = create_app(runtime.api_services())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        heap.settle()
        stop = asyncio.Event()
        sampler = asyncio.create_task(runtime.sample_queues(stop))
        yield
        stop.set()
        await sampler
        await runtime.close()

    app.router.lifespan_context = lifespan
    return app
