"""The OpenAPI document tells every answer an operation can give, and /docs works offline."""

from __future__ import annotations

import re
from typing import Any

import httpx

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
EVERY_AUTHENTICATED = {"401", "413", "422", "429", "431", "503"}


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec: dict[str, Any] = r.json()
    return spec


async def test_every_operation_documents_its_errors_with_the_error_body(client: httpx.AsyncClient) -> None:
    spec = await openapi(client)
    operations = [(m, p, op) for p, ops in spec["paths"].items() if p.startswith("/v1/") for m, op in ops.items()]
    assert len(operations) > 20
    for method, path, op in operations:
        responses = op["responses"]
        if path.startswith("/v1/callbacks/"):  # a provider's, verified by its signature
            assert set(responses) >= {"403", "404", "413", "422", "431", "503"}, (method, path, sorted(responses))
            assert "401" not in responses and "409" not in responses, (method, path)
            continue
        assert set(responses) >= EVERY_AUTHENTICATED, (method, path, sorted(responses))
        if "{" in path and method in ("get", "delete"):
            assert "404" in responses, (method, path)
        if method in ("put", "post", "delete"):
            assert "409" in responses, (method, path)
        for status, answer in responses.items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
        for status in ("429", "503"):
            assert responses[status]["headers"]["Retry-After"]["required"] is True
    error_out = spec["components"]["schemas"]["ErrorOut"]
    assert error_out["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {"code", "message"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_batch_items_are_described_as_notifications(client: httpx.AsyncClient) -> None:
    spec = await openapi(client)
    items = spec["components"]["schemas"]["BatchIn"]["properties"]["notifications"]["items"]
    assert items == {"$ref": "#/components/schemas/NotificationIn"}
    assert "event_id" in spec["components"]["schemas"]["NotificationIn"]["properties"]


async def test_docs_and_redoc_load_only_local_assets(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        r = await client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        urls = re.findall(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""", r.text)
        assert len(urls) >= 3, urls  # a script, a stylesheet or favicon, and the OpenAPI document
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            asset = await client.get(url)
            assert asset.status_code == 200, (page, url)
    # Redoc finds its logo beside the page.
    assert (await client.get("/redoc/logo-mini.svg")).status_code == 200


async def test_each_operation_names_the_callers_it_accepts(client: httpx.AsyncClient) -> None:
    spec = await openapi(client)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["app"] == {"type": "http", "scheme": "basic", "description": schemes["app"]["description"]}
    assert schemes["end_user"]["type"] == "http" and schemes["end_user"]["scheme"] == "bearer"
    security = {(m, p): op.get("security") for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert ("get", "/v1/me") in security
    for (method, path), accepted in security.items():
        if path.endswith("/stream"):  # a live stream: EventSource sends no headers
            assert accepted == [{"end_user_stream": []}], (method, path, accepted)
        elif path == "/v1/me" or path.startswith("/v1/me/"):  # the end user's own
            assert accepted == [{"end_user": []}], (method, path, accepted)
            assert "403" in spec["paths"][path][method]["responses"]
        elif path.startswith("/v1/callbacks/"):  # no caller's credentials: the provider's signature
            assert accepted is None, (method, path, accepted)
            assert "403" in spec["paths"][path][method]["responses"]
        elif path.startswith("/v1/"):
            assert accepted == [{"app": []}], (method, path, accepted)
