"""The FastAPI application: routers from each domain, one error mapping, request limits."""

from __future__ import annotations

from fastapi import FastAPI

from herald import __version__
from herald.api import docs, errors
from herald.api.auth import Authenticator
from herald.api.limits import RequestLimits
from herald.api.ops import router as ops
from herald.deadletters.endpoints import router as dead_letters
from herald.feed.endpoints import router as feed
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
    app.state.authenticator = Authenticator(runtime.sessions, runtime.pepper, runtime.settings.api)
    for router in (users, preferences, feed, templates, notifications, dead_letters, integrations, ops):
        app.include_router(router)
    errors.install(app)
    docs.install(app)

    api = runtime.settings.api
    app.add_middleware(
        RequestLimits,
        max_body_bytes=api.max_body_bytes,
        max_header_count=api.max_header_count,
        max_header_bytes=api.max_header_bytes,
    )
    return app
