"""The FastAPI application: routers from each domain, one error mapping, request limits."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from herald import __version__
from herald.api import docs, errors
from herald.api.limits import RequestLimits
from herald.deadletters.endpoints import router as dead_letters
from herald.integrations.endpoints import router as integrations
from herald.notifications.endpoints import router as notifications
from herald.preferences.endpoints import router as preferences
from herald.recipients.endpoints import router as users
from herald.runtime import Runtime
from herald.templates.endpoints import router as templates


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Herald",
        version=__version__,
        description="Multi-channel notifications. Authenticate with HTTP Basic: app key and secret.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    for router in (users, preferences, templates, notifications, dead_letters, integrations):
        app.include_router(router)
    errors.install(app)
    docs.install(app)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["ops"], responses=errors.responses(413, 431))
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    api = runtime.settings.api
    app.add_middleware(
        RequestLimits,
        max_body_bytes=api.max_body_bytes,
        max_header_count=api.max_header_count,
        max_header_bytes=api.max_header_bytes,
    )
    return app
