"""Users and devices over the API, including bad input and app isolation."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from herald.recipients.models import Device, User
from herald.runtime import Runtime

APNS_TOKEN = "a" * 64


async def count(runtime: Runtime, model: type) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_upsert_get_and_normalise(client: httpx.AsyncClient) -> None:
    r = await client.put(
        "/v1/users/u1",
        json={
            "name": "Ada",
            "email": "Ada@Example.COM",
            "phone": "+44 20 7946 0958",
            "locale": "fr_CA",
            "timezone": "Europe/Paris",
            "attributes": {"plan": "pro"},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "Ada@example.com"  # the domain is case-insensitive, the local part is not
    assert body["phone"] == "+442079460958"
    assert body["locale"] == "fr-CA"
    r = await client.put("/v1/users/u1", json={"name": "Ada L"})
    assert r.status_code == 200
    got = (await client.get("/v1/users/u1")).json()
    assert got["name"] == "Ada L" and got["email"] is None and got["attributes"] == {}


async def test_invalid_email_phone_timezone_rejected_and_nothing_written(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    cases = [
        ({"email": "not-an-email"}, "invalid_email", "email"),
        ({"phone": "12345"}, "invalid_phone", "phone"),
        ({"phone": "+1 555 000"}, "invalid_phone", "phone"),
        ({"timezone": "Mars/Olympus"}, "validation_error", "timezone"),
        ({"unknown": 1}, "validation_error", "unknown"),
    ]
    for body, code, field in cases:
        r = await client.put("/v1/users/bad", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["field"] == field
    assert await count(runtime, User) == 0


async def test_delete_erases_contact_data(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await client.put("/v1/users/u1", json={"email": "a@example.com"})
    await client.post("/v1/users/u1/devices", json={"platform": "ios", "token": APNS_TOKEN})
    assert (await client.delete("/v1/users/u1")).status_code == 204
    assert (await client.get("/v1/users/u1")).status_code == 404
    assert await count(runtime, Device) == 0
    r = await client.delete("/v1/users/u1")
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"


async def test_devices_register_reregister_and_remove(client: httpx.AsyncClient) -> None:
    await client.put("/v1/users/u1", json={})
    await client.put("/v1/users/u2", json={})
    r = await client.post("/v1/users/u1/devices", json={"platform": "ios", "token": APNS_TOKEN})
    assert r.status_code == 201
    device_id = r.json()["id"]
    # The same token registered by another user moves to that user (a handed-over phone).
    r = await client.post("/v1/users/u2/devices", json={"platform": "ios", "token": APNS_TOKEN})
    assert r.status_code == 200 and r.json()["id"] == device_id
    assert (await client.get("/v1/users/u1")).json()["devices"] == []
    assert (await client.delete(f"/v1/users/u1/devices/{device_id}")).status_code == 404
    assert (await client.delete(f"/v1/users/u2/devices/{device_id}")).status_code == 204


async def test_bad_devices_rejected(client: httpx.AsyncClient) -> None:
    await client.put("/v1/users/u1", json={})
    bad = [
        {"platform": "ios", "token": "zz"},
        {"platform": "android"},
        {"platform": "web"},
        {
            "platform": "web",
            "subscription": {"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}},
        },
        {"platform": "blackberry", "token": "x"},
    ]
    for body in bad:
        r = await client.post("/v1/users/u1/devices", json=body)
        assert r.status_code == 422, (body, r.text)
    r = await client.post("/v1/users/nobody/devices", json={"platform": "ios", "token": APNS_TOKEN})
    assert r.status_code == 404


async def test_apps_are_isolated(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    await client.put("/v1/users/u1", json={"email": "a@example.com"})
    assert (await other_client.get("/v1/users/u1")).status_code == 404
    assert (await other_client.delete("/v1/users/u1")).status_code == 404
    r = await other_client.put("/v1/users/u1", json={"email": "b@example.com"})
    assert r.status_code == 201  # a separate user in the other app's namespace
    assert (await client.get("/v1/users/u1")).json()["email"] == "a@example.com"


async def test_authentication_required(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/users/u1", auth=None, headers={"Authorization": ""})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await client.get("/v1/users/u1", auth=("hk_nope", "wrong"))
    assert r.status_code == 401
