"""The FastAPI application: routers from each domain, one error mapping, request limits, CORS
for the end-user routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from herald import __version__
from herald.activity.endpoints import router as activity
from herald.analytics.endpoints import router as analytics
from herald.api import docs, errors
from herald.api.auth import Authenticator
from herald.api.cors import EndUserCors
from herald.api.deps import accepts_end_users
from herald.api.doors import MATCHED, Door
from herald.api.limits import RequestLimits
from herald.api.me import router as me
from herald.api.ops import router as ops
from herald.api.services import ApiServices
from herald.apps.endpoints import router as apps
from herald.callbacks.door import CallbackDoor
from herald.callbacks.endpoints import router as callbacks
from herald.callbacks.service import CallbackDesk
from herald.console.web import create_console
from herald.deadletters.endpoints import router as dead_letters
from herald.feed.endpoints import router as feed
from herald.feed.me import router as my_feed
from herald.integrations.endpoints import router as integrations
from herald.notifications.endpoints import router as notifications
from herald.preferences.endpoints import router as preferences
from herald.preferences.pages import router as preference_page
from herald.recipients.endpoints import router as users
from herald.templates.endpoints import router as templates
from herald.templates.layout_endpoints import router as layouts
from herald.tracking.door import TrackingDoor
from herald.tracking.endpoints import me_router as my_deliveries
from herald.tracking.endpoints import router as tracking
from herald.webhooks.endpoints import router as webhooks

DESCRIPTION = (
    "Multi-channel notifications. An app's backend authenticates with HTTP Basic: app key and secret."
    " An end user of the app, from its web pages, with a Bearer token the app minted (`/v1/me`)."
)


class HeraldApi(FastAPI):
    """FastAPI with front doors (`api.doors`): the providers' callbacks and the open pixel and
    click redirect, requests by the thousand a second, are answered ahead of everything
    FastAPI puts around an app, behind the same request limits as every other request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Each door, and the door behind the request limits.
        self.doors: list[tuple[Door[Any], ASGIApp]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for door, limited in self.doors:
            matched = door.route(scope)
            if matched is not None:
                scope["app"] = self  # what Starlette would set: the handlers read `request.app`
                scope[MATCHED] = matched
                await limited(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(services: ApiServices) -> HeraldApi:
    app = HeraldApi(title="Herald", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.services = services
    authenticator = Authenticator(services.sessions, services.pepper, services.vault, services.settings.api)
    app.state.authenticator = authenticator
    app.state.callbacks = CallbackDesk(services.sessions, services.vault, services.provider_configs, services.events)
    # A request is matched against the routes in this order, one by one: the busiest first (the
    # open pixel and the click redirect, providers' receipts, the intake). Matching the pixel
    # at the end of the list was a quarter of its CPU. The activity's routes precede the
    # notifications': `/v1/notifications/export.csv` is not a notification id.
    routers: list[APIRouter] = [
        tracking, callbacks, activity, notifications, users, preferences, feed, templates, dead_letters,
        integrations, webhooks, apps, me, my_feed, my_deliveries, ops, analytics, layouts, preference_page,
    ]  # fmt: skip
    for router in routers:
        app.include_router(router)
    errors.install(app)
    docs.install(app)
    # The inbox component, for apps' pages to embed (a cross-origin <script> needs no CORS).
    app.mount("/inbox", StaticFiles(packages=[("herald.feed", "static")]), name="inbox")
    # The operator console: server-rendered pages with their own sessions and error pages.
    app.mount("/console", create_console(services, authenticator), name="console")

    # The last added is the outermost: the request limits come before anything else.
    for_end_users = [r for router in routers for r in router.routes if isinstance(r, APIRoute) and accepts_end_users(r)]
    app.add_middleware(EndUserCors, authenticator=authenticator, routes=for_end_users)
    api = services.settings.api
    limits = {
        "max_body_bytes": api.max_body_bytes,
        "max_header_count": api.max_header_count,
        "max_header_bytes": api.max_header_bytes,
    }
    app.add_middleware(RequestLimits, **limits)
    # Opens, clicks and providers' callbacks, one event a request: answered at the front.
    app.doors = [(door, RequestLimits(door, **limits)) for door in (TrackingDoor(), CallbackDoor())]
    return app
