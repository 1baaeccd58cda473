"""An app's preference page settings through `/v1/app/settings`: bounded, validated, replaced whole."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

ORIGINS: dict[str, Any] = {"allowed_origins": ["https://app.example.com"]}


async def test_categories_and_branding_round_trip(client: httpx.AsyncClient) -> None:
    body = {
        **ORIGINS,
        "categories": [
            {"key": "orders", "name": "  Order updates ", "description": "Shipping"},
            {"key": "security.alerts", "name": "Security", "critical": True},
        ],
        "branding": {"name": "Shop", "colour": "#AB12CD"},
    }
    r = await client.put("/v1/app/settings", json=body)
    assert r.status_code == 200, r.text
    expected = {
        **ORIGINS,
        "categories": [
            {"key": "orders", "name": "Order updates", "description": "Shipping", "critical": False},
            {"key": "security.alerts", "name": "Security", "description": None, "critical": True},
        ],
        "branding": {"name": "Shop", "colour": "#ab12cd"},
    }
    assert r.json() == expected
    assert (await client.get("/v1/app/settings")).json() == expected
    # PUT replaces the whole: what is left out is cleared.
    r = await client.put("/v1/app/settings", json=ORIGINS)
    assert r.json() == {**ORIGINS, "categories": [], "branding": {"name": None, "colour": None}}
    assert (await client.get("/v1/app/settings")).json() == r.json()


async def test_settings_are_each_apps_own(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    body = {**ORIGINS, "categories": [{"key": "orders", "name": "Orders"}], "branding": {"name": "Mine"}}
    assert (await client.put("/v1/app/settings", json=body)).status_code == 200
    theirs = (await other_client.get("/v1/app/settings")).json()
    assert theirs["categories"] == [] and theirs["branding"]["name"] is None


BAD: dict[str, dict[str, Any]] = {
    "colour name": {"branding": {"colour": "purple"}},
    "short colour": {"branding": {"colour": "#abc"}},
    "colour with alpha": {"branding": {"colour": "#aabbccdd"}},
    "empty brand name": {"branding": {"name": "   "}},
    "long brand name": {"branding": {"name": "x" * 101}},
    "unknown branding field": {"branding": {"logo": "https://x.example/l.png"}},
    "repeated key": {"categories": [{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]},
    "key with a space": {"categories": [{"key": "a b", "name": "A"}]},
    "key too long": {"categories": [{"key": "k" * 101, "name": "A"}]},
    "no name": {"categories": [{"key": "a"}]},
    "long description": {"categories": [{"key": "a", "name": "A", "description": "d" * 301}]},
    "too many": {"categories": [{"key": f"c{i}", "name": f"C{i}"} for i in range(101)]},
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_settings_are_a_422_naming_the_field(client: httpx.AsyncClient, case: str) -> None:
    r = await client.put("/v1/app/settings", json={**ORIGINS, **BAD[case]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["field"].split(".")[0] in ("branding", "categories")
    assert (await client.get("/v1/app/settings")).json()["categories"] == []  # nothing written
