"""The webhook endpoints API: secrets shown once and sealed, egress at save, one app never
sees another's endpoints."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from herald.config import Mode, Settings
from herald.webhooks.models import WebhookEndpoint
from tests.harness import Herald
from tests.network import herald_with
from tests.webhooks.support import subscribe

HOOK = "https://hooks.example.com/herald"


async def test_the_secret_is_shown_once_and_stored_sealed(herald: Herald) -> None:
    created = await subscribe(herald, HOOK, ["delivered", "opened"])
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) >= len("whsec_") + 32
    assert (created["events"], created["enabled"]) == (["delivered", "opened"], True)
    got = (await herald.client.get(f"/v1/webhooks/{created['id']}")).json()
    listed = (await herald.client.get("/v1/webhooks")).json()
    assert "secret" not in got and [e["id"] for e in listed] == [created["id"]]
    assert secret[6:] not in str(got) + str(listed)
    async with herald.runtime.sessions() as session:
        stored = await session.scalar(select(WebhookEndpoint))
    assert stored is not None and secret not in stored.sealed_secret
    assert herald.runtime.vault.open(stored.sealed_secret) == secret


async def test_patch_delete_and_rotate(herald: Herald) -> None:
    created = await subscribe(herald, HOOK)
    path = f"/v1/webhooks/{created['id']}"
    r = await herald.client.patch(path, json={"events": ["clicked"], "description": "clicks", "enabled": False})
    assert r.status_code == 200, r.text
    assert (r.json()["events"], r.json()["description"], r.json()["enabled"]) == (["clicked"], "clicks", False)
    rotated = await herald.client.post(f"{path}/rotate-secret", json={"overlap_seconds": 3600})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != created["secret"] and rotated.json()["previous_secret_until"] is not None
    assert (await herald.client.get(path)).json()["previous_secret_until"] is not None
    assert (await herald.client.delete(path)).status_code == 204
    r = await herald.client.get(path)
    assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK, "events": ["delivered", "nonsense"]}, "events.1"),
        ({"url": HOOK, "events": []}, "events"),
        ({"url": "ftp://hooks.example.com/x", "events": ["sent"]}, "url"),
        ({"url": HOOK, "events": ["sent"], "secret": "whsec_mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(herald: Herald, body: dict[str, object], field: str) -> None:
    r = await herald.client.post("/v1/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert (await herald.client.get("/v1/webhooks")).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
async def test_production_refuses_private_destinations_at_save(settings: Settings, url: str) -> None:
    async with herald_with(settings, mode=Mode.PRODUCTION) as h:
        r = await h.client.post("/v1/webhooks", json={"url": url, "events": ["sent"]})
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("egress_denied", "url")
        assert (await h.client.get("/v1/webhooks")).json() == []
        ok = await subscribe(h, HOOK)
        r = await h.client.patch(f"/v1/webhooks/{ok['id']}", json={"url": url})
        assert r.status_code == 422 and r.json()["error"]["code"] == "egress_denied"


async def test_development_allows_loopback_but_not_metadata(herald: Herald) -> None:
    await subscribe(herald, "http://127.0.0.1:9/hook")
    r = await herald.client.post("/v1/webhooks", json={"url": "http://169.254.169.254/", "events": ["sent"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "egress_denied"


async def test_one_app_never_sees_anothers_endpoints(herald: Herald, other_client: httpx.AsyncClient) -> None:
    mine = await subscribe(herald, HOOK)
    path = f"/v1/webhooks/{mine['id']}"
    assert (await other_client.get("/v1/webhooks")).json() == []
    answers = [
        await other_client.get(path),
        await other_client.patch(path, json={"enabled": False}),
        await other_client.delete(path),
        await other_client.post(f"{path}/rotate-secret", json={}),
        await other_client.post(f"{path}/replay", json={"message_id": mine["id"]}),
        await other_client.get(f"{path}/messages"),
        await other_client.get(f"{path}/attempts"),
    ]
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(404, "webhook_not_found")] * 7
    assert (await herald.client.get(path)).json()["enabled"] is True


async def test_replay_asks_for_one_message_or_a_whole_range(herald: Herald) -> None:
    hook = await subscribe(herald, HOOK)
    path = f"/v1/webhooks/{hook['id']}/replay"
    for body in (
        {},
        {"since": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ):
        r = await herald.client.post(path, json=body)
        assert r.status_code == 422, (body, r.text)
    r = await herald.client.post(path, json={"message_id": hook["id"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "webhook_message_not_found"


async def test_an_app_has_at_most_twenty_endpoints(herald: Herald) -> None:
    for i in range(20):
        await subscribe(herald, f"{HOOK}/{i}")
    r = await herald.client.post("/v1/webhooks", json={"url": HOOK, "events": ["sent"]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_webhooks"
