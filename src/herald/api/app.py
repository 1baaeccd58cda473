"""The FastAPI application: routers from each domain, one error mapping, one body limit."""

from __future__ import annotations

from fastapi import FastAPI

from herald import __version__
from herald.api import errors
from herald.api.auth import Authenticator
from herald.api.limits import BodyLimit
from herald.api.ops import router as ops
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
    )
    app.state.runtime = runtime
    app.state.authenticator = Authenticator(runtime.sessions, runtime.pepper, runtime.settings.api)
    for router in (users, preferences, templates, notifications, dead_letters, integrations, ops):
        app.include_router(router)
    errors.install(app)

    app.add_middleware(BodyLimit, max_bytes=runtime.settings.api.max_body_bytes)
    return app
