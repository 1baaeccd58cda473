"""Registering web push devices under the egress rules: the endpoint is where Herald will POST."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from herald.config import EgressSettings, Mode, Settings
from tests.harness import Herald
from tests.network import herald_with, subscription

PUSH_HOSTS = ["fcm.googleapis.com", "*.push.apple.com", "updates.push.services.mozilla.com", "*.notify.windows.com"]


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Herald]:
    async with herald_with(settings, mode=Mode.PRODUCTION, egress=EgressSettings(push_hosts=PUSH_HOSTS)) as h:
        await h.user()
        yield h


@pytest.fixture
async def development(settings: Settings) -> AsyncIterator[Herald]:
    async with herald_with(settings) as h:
        await h.user()
        yield h


async def register(h: Herald, endpoint: str) -> tuple[int, dict[str, str]]:
    r = await h.client.post("/v1/users/42/devices", json={"platform": "web", "subscription": subscription(endpoint)})
    return r.status_code, r.json().get("error", {})


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://127.0.0.1/wp/abc",
        "https://[::1]/wp/abc",
        "https://[::ffff:127.0.0.1]/wp/abc",
        "https://10.0.0.5/wp/abc",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/wp/abc",
        "https://push.attacker.example/wp/abc",  # not on the push allow-list
        "http://127.0.0.1:8025/wp/abc",  # the sandbox: development only
    ],
)
async def test_production_refuses(production: Herald, endpoint: str) -> None:
    status, error = await register(production, endpoint)
    assert (status, error.get("code"), error.get("field")) == (422, "egress_denied", "subscription.endpoint")
    assert (await production.client.get("/v1/users/42")).json()["devices"] == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://wns2-par02p.notify.windows.com/w/?token=abc",
    ],
)
async def test_production_accepts_allow_listed_push_services(production: Herald, endpoint: str) -> None:
    status, error = await register(production, endpoint)
    assert status == 201, error


async def test_development_allows_the_sandbox_on_loopback_only(development: Herald) -> None:
    assert (await register(development, "http://127.0.0.1:8025/wp/abc"))[0] == 201
    assert (await register(development, "https://push.example.com/wp/abc"))[0] == 201
    for refused in ("http://push.example.com/wp/abc", "https://10.0.0.5/wp/abc", "https://169.254.169.254/x"):
        status, error = await register(development, refused)
        assert (status, error.get("code")) == (422, "egress_denied"), refused
