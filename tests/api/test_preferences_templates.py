"""Preferences and templates over the API."""

from __future__ import annotations

import httpx

from tests.harness import EMAIL_TEMPLATE


async def test_preferences_round_trip(client: httpx.AsyncClient) -> None:
    await client.put("/v1/users/u1", json={})
    doc = {"channels": {"sms": False}, "categories": {"marketing": {"enabled": False, "channels": {"email": True}}}}
    r = await client.put("/v1/users/u1/preferences", json=doc)
    assert r.status_code == 200, r.text
    assert r.json() == doc
    assert (await client.get("/v1/users/u1/preferences")).json() == doc
    r = await client.put("/v1/users/u1/preferences", json={"channels": {"fax": False}})
    assert r.status_code == 422
    assert (await client.get("/v1/users/missing/preferences")).status_code == 404


async def test_template_crud(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/templates/welcome", json=EMAIL_TEMPLATE)
    assert r.status_code == 201 and r.json()["version"] == 1
    r = await client.put("/v1/templates/welcome", json=EMAIL_TEMPLATE)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert [t["key"] for t in (await client.get("/v1/templates")).json()] == ["welcome"]
    assert (await other_client.get("/v1/templates/welcome")).status_code == 404
    assert (await other_client.get("/v1/templates")).json() == []
    assert (await client.delete("/v1/templates/welcome")).status_code == 204
    r = await client.get("/v1/templates/welcome")
    assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found"


async def test_template_that_does_not_compile_is_rejected(client: httpx.AsyncClient) -> None:
    bad = {"channels": {"email": {"subject": "Hi {{ name ", "text": "x"}}}
    r = await client.put("/v1/templates/broken", json=bad)
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "invalid_template",
        "message": r.json()["error"]["message"],
        "field": "channels.email.subject",
    }
    assert (await client.get("/v1/templates/broken")).status_code == 404
    r = await client.put("/v1/templates/empty", json={"channels": {"email": {"subject": "x"}}})
    assert r.status_code == 422  # an email needs a body
