"""End users: tokens their app mints (through the API or by itself), and what Herald makes of them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from herald.api import auth
from herald.api.app import create_app
from herald.api.deps import forget_credentials
from herald.apps.models import App
from herald.kit.clock import utcnow
from herald.runtime import Runtime
from tests.harness import Bearer, client_for, end_user_token


async def signing_key(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/v1/end-user-key")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/v1/me", auth=Bearer(token))


def forged(key: str, **claims: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "42", "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, key, algorithm="HS256")


async def test_a_minted_token_says_who_the_user_is(client: httpx.AsyncClient) -> None:
    before = utcnow()
    r = await client.post("/v1/users/ada/token", json={"ttl_seconds": 600})
    after = utcnow()
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token, expires_at = r.json()["token"], datetime.fromisoformat(r.json()["expires_at"])
    assert before + timedelta(seconds=599) <= expires_at <= after + timedelta(seconds=600)  # whole seconds
    key = await signing_key(client)
    claims = jwt.decode(token, key["key"], algorithms=[key["algorithm"]], issuer=key["issuer"])
    assert claims["sub"] == "ada" and claims["exp"] - claims["iat"] == 600
    r = await me(client, token)
    assert r.status_code == 200, r.text
    assert r.json() == {"app": key["issuer"], "user_id": "ada", "expires_at": r.json()["expires_at"]}
    assert datetime.fromisoformat(r.json()["expires_at"]) == expires_at
    assert (await client.post("/v1/users/ada/token", json={"ttl_seconds": 30})).status_code == 422
    assert (await client.post("/v1/users/ada/token", json={"ttl_seconds": 86401})).status_code == 422


async def test_a_token_the_apps_backend_mints_itself_works(client: httpx.AsyncClient) -> None:
    """The README's recipe, as an app's backend would run it."""
    key = await signing_key(client)
    app_key, end_user_key = key["issuer"], key["key"]
    # -- as documented --
    now = int(time.time())
    claims = {"sub": "user-42", "iss": app_key, "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, end_user_key, algorithm="HS256")
    # --
    r = await me(client, token)
    assert r.status_code == 200 and r.json()["user_id"] == "user-42", r.text


# Claims for a token signed with the app's key, from now (seconds); None leaves a claim out.
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "expired": ({"iat": -7200, "exp": -3600}, "token_expired"),
    "longer than a day": ({"iat": 0, "exp": 25 * 3600}, "invalid_token"),
    "issued in the future": ({"iat": 3600, "exp": 7200}, "invalid_token"),
    "no expiry": ({"exp": None}, "invalid_token"),
    "empty user id": ({"sub": ""}, "invalid_token"),
    "user id not a string": ({"sub": 42}, "invalid_token"),
    "user id too long": ({"sub": "x" * 201}, "invalid_token"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_token_that_is_not_live_and_bounded_is_refused(client: httpx.AsyncClient, case: str) -> None:
    key = await signing_key(client)
    now = int(time.time())
    changes, code = CASES[case]
    claims: dict[str, Any] = {"sub": "42", "iss": key["issuer"], "iat": now, "exp": now + 600}
    for name, value in changes.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = now + value if name in ("iat", "exp") else value
    r = await me(client, jwt.encode(claims, key["key"], algorithm="HS256"))
    assert r.status_code == 401 and r.json()["error"]["code"] == code, r.text
    assert r.headers["www-authenticate"].startswith("Bearer ")


async def test_tokens_not_signed_by_the_app_are_refused(client: httpx.AsyncClient) -> None:
    key = await signing_key(client)
    unsigned = jwt.encode({"sub": "42", "iss": key["issuer"], "iat": 0, "exp": 2**40}, "", algorithm="none")
    for token in (
        forged("hek_" + "x" * 43, iss=key["issuer"]),
        unsigned,
        "not-a-token",
        forged(key["key"], iss=key["issuer"]) + "x",
        "e" * 5000,
    ):
        r = await me(client, token)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token", (token[:40], r.text)
    r = await client.get("/v1/me", auth=None)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    # Basic credentials are an app's, not an end user's.
    assert (await client.get("/v1/me")).status_code == 401


async def test_a_token_is_good_for_its_own_app_only(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    mine, theirs = await signing_key(client), await signing_key(other_client)
    assert mine["key"] != theirs["key"]
    # Claiming the other app while signed with this one's key, and the other way round.
    assert (await me(client, forged(mine["key"], iss=theirs["issuer"]))).status_code == 401
    assert (await me(client, forged(theirs["key"], iss=mine["issuer"]))).status_code == 401
    token = await end_user_token(other_client, "42")
    r = await me(client, token)
    assert r.status_code == 200 and r.json()["app"] == theirs["issuer"]
    # An end user's token opens no app route.
    r = await client.get("/v1/templates", auth=Bearer(token))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic ")


async def test_a_disabled_apps_tokens_are_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    key = await signing_key(client)
    token = await end_user_token(client)
    assert (await me(client, token)).status_code == 200
    async with runtime.sessions() as s, s.begin():
        await s.execute(update(App).where(App.key_id == key["issuer"]).values(active=False))
    forget_credentials()  # what HERALD_API__AUTH_CACHE's expiry does
    r = await me(client, token)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


async def test_rotation_keeps_earlier_tokens_working_for_the_overlap(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    first_key = await signing_key(client)
    first = await end_user_token(client)
    r = await client.post("/v1/end-user-key/rotate", json={"overlap_seconds": 3600})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    rotated = r.json()
    assert rotated["key"] != first_key["key"] and rotated["previous_key_valid_until"] is not None
    assert (await signing_key(client))["key"] == rotated["key"]
    second = await end_user_token(client)
    assert (await me(client, first)).status_code == 200
    assert (await me(client, second)).status_code == 200

    async with runtime.sessions() as s, s.begin():  # the overlap runs out
        await s.execute(
            update(App).where(App.key_id == first_key["issuer"]).values(previous_end_user_key_expires_at=utcnow())
        )
    forget_credentials()
    assert (await me(client, first)).status_code == 401
    assert (await me(client, second)).status_code == 200

    r = await client.post("/v1/end-user-key/rotate", json={"overlap_seconds": 0})  # leaked: stop at once
    assert r.status_code == 200 and r.json()["previous_key_valid_until"] is None
    assert (await me(client, second)).status_code == 401
    assert (await me(client, await end_user_token(client))).status_code == 200
    assert (await client.post("/v1/end-user-key/rotate", json={"overlap_seconds": 86401})).status_code == 422


async def test_a_key_rotated_in_another_process_is_read_again(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each API process caches keys: a token signed with a newer key makes it read the key again."""
    runtime.settings.api.auth_cache = timedelta(hours=1)
    monkeypatch.setattr(auth, "_REREAD_AFTER", 0.0)
    here = await client_for(runtime, "rotating")  # with the hour-long cache
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())), base_url="http://elsewhere.test"
    )
    async with here, elsewhere:
        old = await end_user_token(here)
        assert (await me(elsewhere, old)).status_code == 200  # its key, cached there now
        assert (await here.post("/v1/end-user-key/rotate", json={"overlap_seconds": 0})).status_code == 200
        new = await end_user_token(here)
        assert (await me(elsewhere, new)).status_code == 200
        assert (await me(elsewhere, old)).status_code == 401


async def test_wrong_tokens_are_throttled_per_address_and_right_ones_never(runtime: Runtime) -> None:
    runtime.settings.api.auth_failures_per_address = 5
    async with await client_for(runtime, "throttled") as client:
        key = await signing_key(client)
        good = await end_user_token(client)
        expired = forged(key["key"], iss=key["issuer"], iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
        # Genuine but expired tokens (pages left open) are not an attack: never counted.
        assert {(await me(client, expired)).status_code for _ in range(10)} == {401}
        statuses = [
            (await me(client, forged("hek_wrong" + "x" * 40, iss=key["issuer"]))).status_code for _ in range(12)
        ]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        refused = await me(client, "garbage")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert (await me(client, good)).status_code == 200


async def test_the_key_is_stored_sealed(runtime: Runtime, client: httpx.AsyncClient) -> None:
    key = await signing_key(client)
    assert key["key"].startswith("hek_") and len(key["key"]) >= 40
    assert (await signing_key(client))["key"] == key["key"]  # made once, then kept
    async with runtime.sessions() as s:
        sealed = await s.scalar(select(App.end_user_key).where(App.key_id == key["issuer"]))
    assert sealed is not None and key["key"] not in sealed
    assert runtime.vault.open(sealed) == key["key"]
