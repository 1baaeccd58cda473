"""The Dead letters page: filters, inspecting one, replaying one and all that match after a
confirmation with the count; a viewer sees no button and is refused; another app's letter is
a 404."""

from __future__ import annotations

import re

from sqlalchemy import select

from herald.notifications.models import Delivery
from herald.runtime import Runtime
from tests.console.logs import Log
from tests.console.seed import Browse, ConsoleClient, Seeded, signed_in


async def state_of(runtime: Runtime, delivery_id: object) -> str:
    async with runtime.sessions() as session:
        return str(await session.scalar(select(Delivery.state).where(Delivery.id == delivery_id)))


def letters(html: str) -> set[str]:
    return set(re.findall(r'/dead-letters/([0-9a-f-]{36})"', html))


async def test_filters_list_only_matching_letters_of_the_app(owner: ConsoleClient, seeded: Seeded, log: Log) -> None:
    base = f"/console/apps/{seeded.app_id}/dead-letters"
    assert letters((await owner.get(base)).text) == {str(log.dead)}
    for query, found in (
        ("channel=sms", True),
        ("channel=email", False),
        ("provider=twilio", True),
        ("provider=vonage", False),
        ("reason=max_attempts", True),
        ("reason=timeout", False),
        ("since=2000-01-01T00:00", True),
        ("until=2000-01-01T00:00", False),
    ):
        r = await owner.get(f"{base}?{query}")
        assert r.status_code == 200, query
        assert letters(r.text) == ({str(log.dead)} if found else set()), query
    assert (await owner.get(f"{base}?since=soon")).status_code == 422


async def test_inspecting_a_letter_shows_its_error_and_what_it_carried(
    owner: ConsoleClient, seeded: Seeded, log: Log
) -> None:
    r = await owner.get(f"/console/apps/{seeded.app_id}/dead-letters/{log.dead}")
    assert r.status_code == 200
    assert "max_attempts" in r.text and "twilio" in r.text and "order-shipped" in r.text
    assert f"/activity/{log.ids['welcome']}" in r.text and "/users/bob" in r.text
    assert (await owner.get(f"/console/apps/{seeded.app_id}/dead-letters/{log.beta_dead}")).status_code == 404


async def test_an_editor_replays_one(browse: Browse, seeded: Seeded, log: Log, runtime: Runtime) -> None:
    editor = await signed_in(browse, seeded.editor)
    base = f"/console/apps/{seeded.app_id}/dead-letters"
    assert f"{base}/{log.dead}/replay" in (await editor.get(base)).text
    r = await editor.post(f"{base}/{log.dead}/replay")
    assert r.status_code == 303
    assert await state_of(runtime, log.dead) == "queued"
    assert "is replayed" in (await editor.get(base)).text
    again = await editor.post(f"{base}/{log.dead}/replay")  # no longer dead: nothing happens
    assert again.status_code == 303 and "Nothing replayed" in (await editor.get(base)).text
    # Another app's letter: nothing replayed, whatever the id.
    await editor.post(f"{base}/{log.beta_dead}/replay")
    assert await state_of(runtime, log.beta_dead) == "dead"


async def test_replay_all_that_match_confirms_the_count_first(
    browse: Browse, seeded: Seeded, log: Log, runtime: Runtime
) -> None:
    editor = await signed_in(browse, seeded.editor)
    base = f"/console/apps/{seeded.app_id}/dead-letters"
    listed = (await editor.get(f"{base}?channel=sms")).text
    assert f'href="{base}/replay?channel=sms"' in listed
    confirm = await editor.get(f"{base}/replay?channel=sms")
    assert confirm.status_code == 200
    assert "<strong>1</strong> dead letter match" in confirm.text
    assert await state_of(runtime, log.dead) == "dead", "the confirmation changes nothing"
    none = await editor.get(f"{base}/replay?channel=email")
    assert "nothing would be replayed" in none.text and 'action="/console' not in none.text.split("<main")[1]
    r = await editor.post(f"{base}/replay", {"channel": "sms"})
    assert r.status_code == 303
    assert await state_of(runtime, log.dead) == "queued"
    assert await state_of(runtime, log.beta_dead) == "dead", "only this app's letters"
    assert "1 dead letter replayed" in (await editor.get(r.headers["location"].removeprefix("http://herald.test"))).text
    # Without a filter there is nothing to confirm: a bulk replay takes a filter.
    assert (await editor.get(f"{base}/replay")).status_code == 303


async def test_a_viewer_sees_no_button_and_cannot_replay(
    browse: Browse, seeded: Seeded, log: Log, runtime: Runtime
) -> None:
    viewer = await signed_in(browse, seeded.viewer)
    base = f"/console/apps/{seeded.app_id}/dead-letters"
    page = (await viewer.get(f"{base}?channel=sms")).text
    assert "Read-only for you" in page and str(log.dead) in page
    assert "/replay" not in page
    assert "Replay this" not in (await viewer.get(f"{base}/{log.dead}")).text
    assert (await viewer.post(f"{base}/{log.dead}/replay")).status_code == 403
    assert (await viewer.post(f"{base}/replay", {"channel": "sms"})).status_code == 403
    assert (await viewer.get(f"{base}/replay?channel=sms")).status_code == 403
    assert await state_of(runtime, log.dead) == "dead"
