"""The Users pages: find a user, their contacts, devices, preferences (edited), suppressions
(lifted) and recent notifications, deleting them after a confirmation; editors change, viewers
read; another app's user is a 404."""

from __future__ import annotations

from herald.kit.uow import unit_of_work
from herald.preferences import service as preferences
from herald.recipients import service as recipients
from herald.runtime import Runtime
from tests.console.logs import Log
from tests.console.seed import Browse, ConsoleClient, Seeded, signed_in


async def test_find_a_user_and_see_everything_about_them(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    base = f"/console/apps/{seeded.app_id}/users"
    found = await owner.get(f"{base}?user_id=bob")
    assert found.status_code == 303 and found.headers["location"].endswith("/users/bob")
    missing = await owner.get(f"{base}?user_id=nobody")
    assert missing.status_code == 422 and "has no user" in missing.text
    page = await owner.get(f"{base}/bob")
    assert page.status_code == 200
    html = page.text
    assert "bob@example.com" in html and "+14155550123" in html
    assert "sendgrid:bounce" in html, "the suppressed address"
    assert f"/activity/{log.ids['welcome']}" in html, "recent notifications link to theirs"
    assert f"/activity/{log.ids['shipped']}" not in html, "and only theirs"


async def test_another_apps_user_is_not_found(browse: Browse, seeded: Seeded, log: Log) -> None:
    outsider = await signed_in(browse, seeded.outsider)
    assert (await outsider.get(f"/console/apps/{seeded.app_id}/users/bob")).status_code == 404
    owner = await signed_in(browse, seeded.owner)
    assert (await owner.get(f"/console/apps/{seeded.app_id}/users/nobody")).status_code == 404
    assert (await owner.get(f"/console/apps/{seeded.app_id}/users/a%00b")).status_code == 404


async def test_an_editor_edits_preferences(browse: Browse, seeded: Seeded, log: Log, runtime: Runtime) -> None:
    editor = await signed_in(browse, seeded.editor)
    path = f"/console/apps/{seeded.app_id}/users/bob/preferences"
    form = {"channel-sms": "off", "new-category": "news", "category-new-any": "off", "category-new-email": "on"}
    assert (await editor.post(path, form)).status_code == 303
    async with unit_of_work(runtime.sessions) as uow:
        doc = await preferences.get_preferences(uow, seeded.app_id, "bob")
    assert doc.channels == {"sms": False}
    assert doc.categories["news"].enabled is False and doc.categories["news"].channels == {"email": True}
    page = (await editor.get(f"/console/apps/{seeded.app_id}/users/bob")).text
    assert 'name="category-0" value="news"' in page
    # Posting the grid back with a rule set to default drops it.
    again = {"channel-sms": "", "category-0": "news", "category-0-any": "off"}
    assert (await editor.post(path, again)).status_code == 303
    async with unit_of_work(runtime.sessions) as uow:
        doc = await preferences.get_preferences(uow, seeded.app_id, "bob")
    assert doc.channels == {} and doc.categories["news"].enabled is False and doc.categories["news"].channels == {}
    bad = await editor.post(path, {"new-category": "not a key!"})
    assert bad.status_code == 303
    assert "Nothing saved" in (await editor.get(f"/console/apps/{seeded.app_id}/users/bob")).text


async def test_an_editor_lifts_a_suppression_of_the_users_own_address(
    browse: Browse, seeded: Seeded, log: Log, runtime: Runtime
) -> None:
    editor = await signed_in(browse, seeded.editor)
    path = f"/console/apps/{seeded.app_id}/users/bob/suppressions/remove"
    # Bob's page cannot lift someone else's address, nor one that is not suppressed.
    assert (await editor.post(path, {"channel": "email", "address": "ada@example.com"})).status_code == 303
    assert (await editor.post(path, {"channel": "email", "address": "bob@example.com"})).status_code == 303
    async with unit_of_work(runtime.sessions) as uow:
        assert await recipients.suppressions(uow, seeded.app_id, "bob") == []
    page = (await editor.get(f"/console/apps/{seeded.app_id}/users/bob")).text
    assert "bob@example.com is no longer suppressed" in page


async def test_deleting_a_user_is_confirmed_first(browse: Browse, seeded: Seeded, log: Log, runtime: Runtime) -> None:
    editor = await signed_in(browse, seeded.editor)
    base = f"/console/apps/{seeded.app_id}/users/bob"
    confirm = await editor.get(f"{base}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert (await editor.get(base)).status_code == 200, "the confirmation deletes nothing"
    r = await editor.post(f"{base}/delete")
    assert r.status_code == 303
    assert (await editor.get(base)).status_code == 404


async def test_a_viewer_reads_but_changes_nothing(browse: Browse, seeded: Seeded, log: Log, runtime: Runtime) -> None:
    viewer = await signed_in(browse, seeded.viewer)
    base = f"/console/apps/{seeded.app_id}/users/bob"
    page = (await viewer.get(base)).text
    assert "Read-only for you" in page
    assert "Save preferences" not in page and "Delete this user" not in page and "the suppression of" not in page
    assert (await viewer.post(f"{base}/preferences", {"channel-sms": "off"})).status_code == 403
    assert (
        await viewer.post(f"{base}/suppressions/remove", {"channel": "email", "address": "bob@example.com"})
    ).status_code == 403
    assert (await viewer.get(f"{base}/delete")).status_code == 403
    assert (await viewer.post(f"{base}/delete")).status_code == 403
    async with unit_of_work(runtime.sessions) as uow:
        assert len(await recipients.suppressions(uow, seeded.app_id, "bob")) == 1
        assert (await preferences.get_preferences(uow, seeded.app_id, "bob")).channels == {}
