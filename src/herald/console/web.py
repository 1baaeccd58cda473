"""The console as an ASGI app of its own, mounted at /console by `herald.api.app`: its own
error pages (HTML, not the API's JSON), its CSRF guard on every route, its security headers,
and its static files. It is left out of the API's OpenAPI document."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald.api.auth import Authenticator
from herald.api.errors import status_for
from herald.api.services import ApiServices
from herald.console.errors import LoginRequired
from herald.console.pages import redirect, render
from herald.console.routes import PAGES
from herald.console.security import SecurityHeaders, csrf_guard
from herald.kit.errors import HeraldError, NotFound

log = logging.getLogger(__name__)
_TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Page not found", 405: "Not allowed", 409: "Conflict",
           422: "Not valid", 429: "Too many attempts", 503: "Unavailable"}  # fmt: skip


def create_console(services: ApiServices, authenticator: Authenticator) -> FastAPI:
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(csrf_guard)])
    console.state.services = services
    # Shared with the API: a rotated secret is forgotten by the API's cache at once.
    console.state.authenticator = authenticator
    console.state.nav = [p.nav for p in PAGES if p.nav is not None]
    for page in PAGES:
        console.include_router(page.router, include_in_schema=False)
    console.mount("/static", StaticFiles(packages=[("herald.console", "static")]), name="static")
    _install_errors(console)
    console.add_middleware(SecurityHeaders)
    return console


async def _page(request: Request, status: int, message: str, code: str | None = None) -> Response:
    if status == 404:
        return await render(request, "not_found.html", status=404)
    heading = _TITLES.get(status, "Something went wrong")
    return await render(request, "error.html", {"heading": heading, "message": message, "code": code}, status=status)


def _install_errors(console: FastAPI) -> None:
    @console.exception_handler(LoginRequired)
    async def _login(request: Request, _: Exception) -> Response:
        target = request.url.path.removeprefix(str(request.scope.get("root_path", ""))) or "/"
        if request.url.query:
            target += "?" + request.url.query
        # After sign-in, back to the page asked for (a form's POST is not replayed).
        return redirect(request, "/login" + (f"?next={quote(target, safe='/')}" if request.method == "GET" else ""))

    @console.exception_handler(HeraldError)
    async def _domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HeraldError)
        return await _page(request, 404 if isinstance(exc, NotFound) else status_for(exc), exc.message, exc.code)

    @console.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # A malformed id in the path is a page that does not exist.
        if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
            return await _page(request, 404, "")
        return await _page(request, 422, "The form was not valid: go back, correct it and send it again.")

    @console.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return await _page(request, exc.status_code, str(exc.detail))
