"""A render limit broken only at send time fails that delivery, and nothing else."""

from __future__ import annotations

from herald.kit.channels import Channel
from tests.harness import Herald

TEMPLATE = {
    "channels": {"email": {"subject": "For {{ user.name }}", "text": "{{ user.word * user.times }}"}},
}


async def test_a_limit_broken_at_send_time_fails_only_that_delivery(herald: Herald) -> None:
    await herald.user("big", name="Big", email="big@example.com", attributes={"word": "ab", "times": 2})
    await herald.user("small", name="Small", email="small@example.com", attributes={"word": "ab", "times": 3})
    await herald.template("repeat", TEMPLATE)
    doomed = await herald.notify(user_id="big", template="repeat", data={})
    fine = await herald.notify(user_id="small", template="repeat", data={})
    assert doomed.status_code == fine.status_code == 202
    # The card read at send time is the user as they are then: far past the value limit.
    await herald.user("big", name="Big", email="big@example.com", attributes={"word": "ab", "times": 10**7})

    await herald.drain(channels=[Channel.EMAIL])

    failed = await herald.notification(doomed.json()["id"])
    (delivery,) = failed["deliveries"]
    assert (delivery["state"], delivery["reason"], delivery["attempts"]) == ("failed", "render_error", 0)
    assert (await herald.notification(fine.json()["id"]))["status"] == "delivered"
    assert [(e.destination, e.body["text"]) for e in herald.inbox.entries()] == [("small@example.com", "ababab")]
