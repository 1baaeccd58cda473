"""Roles and isolation: a member sees only their apps; another app's every page is a 404; a
viewer changes nothing; an editor does not manage settings; an app keeps an owner."""

from __future__ import annotations

from tests.console.seed import Browse, ConsoleClient, Seeded, console_routes, fill, signed_in


async def test_no_page_or_form_of_an_app_reaches_a_non_member(browse: Browse, seeded: Seeded) -> None:
    outsider = await signed_in(browse, seeded.outsider)
    routes = [(m, p) for m, p in console_routes({"GET", "POST"}) if "{app_id}" in p]
    assert len(routes) >= 15
    for method, template in routes:
        path = fill(template, seeded.app_id)
        r = await (outsider.get(path) if method == "GET" else outsider.post(path))
        assert r.status_code == 404, f"{method} {template}: {r.status_code}"
        assert "alpha" not in r.text
    switcher = (await outsider.get(f"/console/apps/{seeded.other_app_id}/")).text
    assert "beta" in switcher and "alpha" not in switcher


async def test_a_malformed_app_id_is_a_plain_404(owner: ConsoleClient) -> None:
    assert (await owner.get("/console/apps/not-an-id/settings/members")).status_code == 404


async def test_a_viewer_reads_the_settings_but_cannot_rotate_or_manage_members(browse: Browse, seeded: Seeded) -> None:
    viewer = await signed_in(browse, seeded.viewer)
    base = f"/console/apps/{seeded.app_id}/settings"
    for tab in ("integrations", "webhooks", "secrets", "members"):
        page = await viewer.get(f"{base}/{tab}")
        assert page.status_code == 200 and "read-only for you" in page.text
        assert '<form method="post" action="/console/apps' not in page.text
    assert (await viewer.post(f"{base}/secrets/rotate", {"overlap": "0"})).status_code == 403
    assert (await viewer.post(f"{base}/members", {"email": seeded.outsider, "role": "owner"})).status_code == 403
    members = (await viewer.get(f"{base}/members")).text
    assert seeded.outsider not in members


async def test_an_editor_cannot_manage_integrations_or_webhooks(browse: Browse, seeded: Seeded) -> None:
    editor = await signed_in(browse, seeded.editor)
    base = f"/console/apps/{seeded.app_id}/settings"
    assert (await editor.get(f"{base}/integrations/new?kind=twilio")).status_code == 403
    r = await editor.post(f"{base}/integrations/new", {"kind": "smtp", "name": "mine", "cfg_host": "smtp.example.com"})
    assert r.status_code == 403
    assert (
        await editor.post(f"{base}/webhooks", {"url": "https://example.com/h", "events": ["sent"]})
    ).status_code == 403


async def test_the_last_owner_stays(owner: ConsoleClient, seeded: Seeded, browse: Browse) -> None:
    base = f"/console/apps/{seeded.app_id}/settings/members"
    page = (await owner.get(base)).text
    me = page.split(f"<td>{seeded.owner}</td>")[1].split("/settings/members/")[1].split("/")[0]
    removed = await owner.post(f"{base}/{me}/remove")
    assert removed.status_code == 303
    assert "keeps at least one owner" in (await owner.get(base)).text
    assert (await owner.post(f"{base}/{me}/role", {"role": "viewer"})).status_code == 303
    still = (await owner.get(base)).text
    assert "keeps at least one owner" in still and (await owner.get(base)).status_code == 200
    # With a second owner, the first may step down.
    assert (await owner.post(base, {"email": seeded.editor, "role": "owner"})).status_code == 303
    assert (await owner.post(f"{base}/{me}/role", {"role": "viewer"})).status_code == 303
    assert (await owner.post(f"{base}/{me}/role", {"role": "owner"})).status_code == 403
