"""/docs (Swagger UI) and /redoc that work with no internet access.

FastAPI's own pages load their scripts from a CDN, which a self-hosted deployment may not
reach. The assets come from fastapi-standalone-docs instead: it ships Swagger UI 5, which
renders OpenAPI 3.1 (what FastAPI writes; swagger-ui-bundle's Swagger UI 4 refuses it), and
Redoc 2 with its logo already pointed at `<page>/logo-mini.svg`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

_PACKAGE = "fastapi_standalone_docs"
ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Serve the two documentation pages and their assets (the app is built with docs_url=None)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{ASSETS}/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/fastapi/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            redoc_js_url=f"{root}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/fastapi/favicon.png",
            with_google_fonts=False,
        )

    app.mount(ASSETS, StaticFiles(packages=[(_PACKAGE, "static")]), name="docs-assets")
    # Redoc looks for its logo beside the page: /redoc/logo-mini.svg.
    app.mount("/redoc", StaticFiles(packages=[(_PACKAGE, "static/redoc")]), name="redoc-assets")
