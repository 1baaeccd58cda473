"""The ASGI entry point for `herald api`: one runtime per server process, from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from herald.api.app import create_app
from herald.config import Settings
from herald.kit import heap
from herald.runtime import build_runtime


def create() -> FastAPI:
    """Uvicorn factory: `uvicorn --factory herald.api.main:create`."""
    runtime = build_runtime(Settings())
    app = create_app(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        heap.settle()
        yield
        await runtime.close()

    app.router.lifespan_context = lifespan
    return app
