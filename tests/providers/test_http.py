"""The shared HTTP transport under the egress rules: checked at connect time, no redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from herald.kit.egress import EgressPolicy
from herald.providers.http import HttpAnswer, HttpClient
from herald.providers.outcome import PermanentFailure
from tests.network import Listener, fake_dns

PROD = EgressPolicy(production=True)


@pytest.fixture
async def ok_server() -> AsyncIterator[tuple[int, list[str]]]:
    """Answers 200 on /ok; on /moved, a redirect to whatever `?to=` says."""
    seen: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="fine")

    async def moved(request: web.Request) -> web.Response:
        seen.append(request.path)
        raise web.HTTPTemporaryRedirect(request.query["to"])

    app = web.Application()
    app.add_routes([web.post("/ok", ok), web.post("/moved", moved)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1], seen  # type: ignore[union-attr]
    await runner.cleanup()


async def denied(client: HttpClient, url: str) -> PermanentFailure:
    try:
        answer = await client.request("POST", url, data=b"x")
    finally:
        await client.close()
    assert isinstance(answer, PermanentFailure) and answer.code == "egress_denied", answer
    return answer


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "127.1"])
async def test_an_ip_literal_is_refused_before_connecting(listener: Listener, host: str) -> None:
    """aiohttp does not resolve IP literals, so the URL itself is judged first."""
    await denied(HttpClient(guard=PROD.accounts), f"http://{host}:{listener.port}/x")
    assert listener.connections == 0


async def test_a_name_rebound_to_loopback_is_refused_at_connect(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"api.rebind.test": "127.0.0.1"})
    assert PROD.accounts.refusal(f"http://api.rebind.test:{listener.port}/x") is None  # looks fine on its face
    answer = await denied(HttpClient(guard=PROD.accounts), f"http://api.rebind.test:{listener.port}/x")
    assert "127.0.0.1" in (answer.detail or "")
    assert listener.connections == 0


async def test_an_exactly_allow_listed_relay_is_reached_on_a_private_address(
    ok_server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = ok_server
    fake_dns(monkeypatch, {"relay.internal.test": "127.0.0.1"})
    policy = EgressPolicy(production=True, provider_hosts=["relay.internal.test"])
    client = HttpClient(guard=policy.accounts)
    try:
        answer = await client.request("POST", f"http://relay.internal.test:{port}/ok")
    finally:
        await client.close()
    assert isinstance(answer, HttpAnswer) and answer.status == 200
    assert seen == ["/ok"]


async def test_redirects_are_never_followed(ok_server: tuple[int, list[str]], listener: Listener) -> None:
    port, seen = ok_server
    # Development's loopback exemption lets the first request through; the redirect must not.
    client = HttpClient(guard=EgressPolicy().accounts)
    try:
        answer = await client.request("POST", f"http://127.0.0.1:{port}/moved?to=http://127.0.0.1:{listener.port}/")
    finally:
        await client.close()
    assert isinstance(answer, HttpAnswer) and answer.status == 307
    assert seen == ["/moved"] and listener.connections == 0
