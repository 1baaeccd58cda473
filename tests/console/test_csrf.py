"""CSRF: every state-changing console route, enumerated from the route table, refuses a request
without this session's token, with another session's token, or from another origin."""

from __future__ import annotations

from tests.console.seed import Browse, ConsoleClient, Seeded, console_routes, csrf_of, fill

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def test_the_enumeration_finds_the_forms() -> None:
    """If it found nothing, the tests below would pass for nothing."""
    found = {path for _, path in console_routes(UNSAFE)}
    assert {"/console/login", "/console/logout", "/console/apps/{app_id}/settings/secrets/rotate"} <= found
    assert len(found) >= 12


async def test_every_state_changing_route_refuses_a_missing_or_foreign_token(
    browse: Browse, seeded: Seeded, owner: ConsoleClient
) -> None:
    other = await browse()
    await other.login(seeded.outsider)
    assert other.token and other.token != owner.token
    routes = console_routes(UNSAFE)
    for method, template in routes:
        path = fill(template, seeded.app_id)
        for token in (None, "", other.token, owner.token[:-2] + "00", "x" * 500):
            data = {} if token is None else {"csrf_token": token}
            r = await owner.http.request(method, path, data=data)
            assert r.status_code == 403, f"{method} {template} with token {token!r}: {r.status_code}"
            assert "csrf_failed" in r.text
        header = await owner.http.request(method, path, headers={"X-CSRF-Token": other.token})
        assert header.status_code == 403, f"{method} {template} with another session's token in the header"


async def test_a_valid_token_from_another_origin_or_site_is_refused(owner: ConsoleClient, seeded: Seeded) -> None:
    path = f"/console/apps/{seeded.app_id}/settings/secrets/rotate"
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = await owner.http.post(path, data={"csrf_token": owner.token}, headers=headers)
        assert r.status_code == 403, headers
    same = await owner.http.post(
        path,
        data={"csrf_token": owner.token},
        headers={"Origin": "http://herald.test", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200 and "shown this once" in same.text


async def test_htmx_sends_the_token_as_a_header(owner: ConsoleClient, seeded: Seeded) -> None:
    r = await owner.http.post(
        f"/console/apps/{seeded.app_id}/settings/secrets/rotate",
        data={"overlap": "0"},
        headers={"X-CSRF-Token": owner.token, "HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "<html" not in r.text and "shown this once" in r.text  # a fragment for htmx to swap


async def test_signing_in_needs_the_token_of_the_sign_in_form(browse: Browse, seeded: Seeded) -> None:
    c = await browse()
    r = await c.http.post("/console/login", data={"email": seeded.owner, "password": "x" * 20})
    assert r.status_code == 403
    # A token minted for another browser's sign-in form is no good either.
    stranger = await browse()
    page = await stranger.get("/console/login")
    await c.get("/console/login")
    data = {"email": seeded.owner, "password": "x" * 20, "csrf_token": csrf_of(page.text)}
    r = await c.http.post("/console/login", data=data)
    assert r.status_code == 403
