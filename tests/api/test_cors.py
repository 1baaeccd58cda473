"""CORS for end users' routes: each app names the web origins its tokens may be used from."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from herald.api.deps import forget_credentials
from herald.apps.models import App
from herald.runtime import Runtime
from tests.harness import Bearer, end_user_token

SHOP = "https://shop.example"
OTHER = "https://other.example"


async def allow(client: httpx.AsyncClient, *origins: str) -> list[str]:
    r = await client.put("/v1/app/settings", json={"allowed_origins": list(origins)})
    assert r.status_code == 200, r.text
    return list(r.json()["allowed_origins"])


async def preflight(client: httpx.AsyncClient, origin: str, path: str = "/v1/me") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    return await client.options(path, headers=headers, auth=httpx.Auth())  # no credentials: a browser sends none


async def test_a_preflight_passes_for_an_origin_some_app_allows(client: httpx.AsyncClient) -> None:
    refused = await preflight(client, SHOP)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    await allow(client, SHOP)  # seen at once by this process: no wait for the cache
    r = await preflight(client, SHOP)
    assert r.status_code == 204, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "authorization" in r.headers["access-control-allow-headers"]
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "Origin" in r.headers["vary"]
    assert "access-control-allow-credentials" not in r.headers
    assert (await preflight(client, OTHER)).status_code == 403


async def test_the_tokens_app_decides_the_actual_request(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    await allow(client, SHOP)
    await allow(other_client, OTHER)
    token = await end_user_token(client)
    r = await client.get("/v1/me", auth=Bearer(token), headers={"Origin": SHOP})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SHOP and "Origin" in r.headers["vary"]
    # The other app allows OTHER, so its preflight passes; this token's app does not.
    assert (await preflight(client, OTHER)).status_code == 204
    r = await client.get("/v1/me", auth=Bearer(token), headers={"Origin": OTHER})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers
    # Not from a page (a server, curl): CORS does not apply.
    assert (await client.get("/v1/me", auth=Bearer(token))).status_code == 200


async def test_a_refused_token_is_readable_by_a_page_that_may_ask(client: httpx.AsyncClient) -> None:
    """A page told why (token_expired) fetches a new token instead of seeing a network error."""
    await allow(client, SHOP)
    r = await client.get("/v1/me", auth=Bearer("not-a-token"), headers={"Origin": SHOP})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == SHOP
    r = await client.get("/v1/me", auth=Bearer("not-a-token"), headers={"Origin": OTHER})
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers


async def test_app_routes_are_never_opened_to_pages(client: httpx.AsyncClient) -> None:
    await allow(client, SHOP)
    r = await client.get("/v1/templates", headers={"Origin": SHOP})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    r = await preflight(client, SHOP, "/v1/templates")
    assert r.status_code == 405 and "access-control-allow-origin" not in r.headers


async def test_a_disabled_apps_origins_open_no_preflight(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await allow(client, SHOP)
    assert (await preflight(client, SHOP)).status_code == 204
    key = (await client.get("/v1/end-user-key")).json()["issuer"]
    async with runtime.sessions() as s, s.begin():
        await s.execute(update(App).where(App.key_id == key).values(active=False))
    forget_credentials()  # what HERALD_API__AUTH_CACHE's expiry does
    assert (await preflight(client, SHOP)).status_code == 403


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (["HTTPS://Shop.Example:443", "https://shop.example"], ["https://shop.example"]),
        (["https://shop.example:8443"], ["https://shop.example:8443"]),
        (
            ["https://[::1]:3000", "https://xn--bcher-kva.example."],
            ["https://[::1]:3000", "https://xn--bcher-kva.example"],
        ),
        (["http://localhost:3000", "http://127.0.0.1"], ["http://localhost:3000", "http://127.0.0.1"]),  # development
        ([], []),
    ],
)
async def test_origins_are_stored_as_browsers_send_them(
    client: httpx.AsyncClient, given: list[str], stored: list[str]
) -> None:
    assert await allow(client, *given) == stored
    assert (await client.get("/v1/app/settings")).json()["allowed_origins"] == stored


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (["https://shop.example", "http://shop.example"], "allowed_origins.1"),  # http beyond localhost
        (["https://shop.example/"], "allowed_origins.0"),  # a path
        (["https://*.shop.example"], "allowed_origins.0"),
        (["https://user@shop.example"], "allowed_origins.0"),
        (["ftp://shop.example"], "allowed_origins.0"),
        (["https://shop.example:0"], "allowed_origins.0"),
        (["https://shop.example:70000"], "allowed_origins.0"),
        (["https://bücher.example"], "allowed_origins.0"),
        (["https://[::g]"], "allowed_origins.0"),
        (["null"], "allowed_origins.0"),
        ([SHOP] * 51, "allowed_origins"),
    ],
)
async def test_an_origin_a_browser_would_never_send_is_refused(
    client: httpx.AsyncClient, given: list[str], field: str
) -> None:
    r = await client.put("/v1/app/settings", json={"allowed_origins": given})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert (await client.get("/v1/app/settings")).json()["allowed_origins"] == []
