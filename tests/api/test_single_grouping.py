"""Concurrent single notifications are written together, each answered as if alone."""

from __future__ import annotations

import asyncio
from typing import Any

from herald.runtime import Runtime
from tests.harness import Herald, statements_run


async def test_a_flood_of_single_requests_shares_inserts_and_keeps_each_answer(
    herald: Herald, runtime: Runtime
) -> None:
    await herald.user()
    await herald.template()
    assert (await herald.notify(event_id="warm")).status_code == 202
    bodies: list[dict[str, Any]] = [{"event_id": f"flood-{i}"} for i in range(40)]
    bodies[10] = {"event_id": "twice"}
    bodies[30] = {"event_id": "twice"}
    bodies[20] = {"event_id": "no-template", "template": "never-made"}
    with statements_run(runtime) as statements:
        answers = await asyncio.gather(*(herald.notify(**b) for b in bodies))
    inserts = [s for s in statements if "INSERT INTO notifications" in s]

    # Fewer writes than requests: those that waited for the intake went in together.
    assert 1 <= len(inserts) < len(bodies) - 1, len(inserts)
    by_event = {b["event_id"]: a for b, a in zip(bodies, answers, strict=True) if b["event_id"] != "twice"}
    for body in bodies:
        if body["event_id"].startswith("flood-"):
            a = by_event[body["event_id"]]
            assert a.status_code == 202, a.text
            assert a.json()["event_id"] == body["event_id"]  # its own notification, not a neighbour's
    missing = by_event["no-template"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "template_not_found", missing.text
    twice = sorted(a.status_code for b, a in zip(bodies, answers, strict=True) if b["event_id"] == "twice")
    assert twice == [200, 202]  # one created, the other answered as its duplicate
    same = {a.json()["id"] for b, a in zip(bodies, answers, strict=True) if b["event_id"] == "twice"}
    assert len(same) == 1
    # And every accepted one is in the log.
    for b, a in zip(bodies, answers, strict=True):
        if a.status_code in (200, 202):
            got = await herald.client.get(f"/v1/notifications/{a.json()['id']}")
            assert got.status_code == 200 and got.json()["event_id"] == b["event_id"]
