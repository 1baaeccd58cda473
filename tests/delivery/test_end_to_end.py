"""API request -> worker -> provider: the email reaches the sandbox SMTP server exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from herald.config import RateLimit
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.notifications.models import Delivery, DeliveryState
from tests.harness import Herald


async def test_email_delivered_exactly_once(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(event_id="order-7-shipped")
    assert r.status_code == 202
    await herald.drain()
    [msg] = herald.inbox.entries(destination="ada@example.com")
    assert msg.body["subject"] == "Order 7 shipped"
    assert "Hi Ada Lovelace, order 7" in msg.body["text"]
    assert "<b>7</b>" in msg.body["html"]
    n = await herald.notification(r.json()["id"])
    [d] = n["deliveries"]
    assert n["status"] == "delivered" and d["state"] == "delivered"
    assert msg.key == d["id"].replace("-", "")  # Herald's key travelled as the Message-ID
    assert [a["outcome"] for a in d["attempt_log"]] == ["delivered"]
    assert d["attempt_log"][0]["provider"] == "smtp"


async def test_duplicate_event_sends_nothing_more(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    await herald.notify(event_id="once")
    await herald.drain()
    again = await herald.notify(event_id="once")
    assert again.status_code == 200
    await herald.drain()
    assert len(herald.inbox.entries(destination="ada@example.com")) == 1


async def test_html_is_escaped_and_locale_chosen(herald: Herald) -> None:
    await herald.user(name="<script>x</script>", locale="fr-CA")
    await herald.template()
    await herald.notify()
    await herald.drain()
    [msg] = herald.inbox.entries()
    assert msg.body["subject"] == "Commande 7 expédiée"  # fr variant for fr-CA
    await herald.user(name="<script>x</script>", locale="en")
    await herald.notify()
    await herald.drain()
    html = herald.inbox.entries()[-1].body["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html


async def test_opted_out_user_is_skipped_and_critical_ignores_opt_out(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    await herald.client.put("/v1/users/42/preferences", json={"categories": {"orders": {"channels": {"email": False}}}})
    skipped = await herald.notify(category="orders")
    other_category = await herald.notify(category="billing")
    critical = await herald.notify(category="orders", critical=True)
    await herald.drain()
    assert (await herald.notification(skipped.json()["id"]))["deliveries"][0]["reason"] == "opted_out"
    assert (await herald.notification(skipped.json()["id"]))["status"] == "skipped"
    assert (await herald.notification(other_category.json()["id"]))["status"] == "delivered"
    assert (await herald.notification(critical.json()["id"]))["status"] == "delivered"
    assert len(herald.inbox.entries()) == 2


async def test_opt_out_after_accept_is_honoured_at_send_time(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.client.put("/v1/users/42/preferences", json={"channels": {"email": False}})
    await herald.drain()
    assert (await herald.notification(r.json()["id"]))["deliveries"][0]["reason"] == "opted_out"
    assert herald.inbox.entries() == []


async def test_changed_email_is_used_on_the_next_send(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    await herald.notify()
    await herald.drain()
    await herald.user(email="new@example.com")
    await herald.notify()
    await herald.drain()
    assert [e.destination for e in herald.inbox.entries()] == ["ada@example.com", "new@example.com"]


async def test_scheduled_send_waits_until_due(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    later = await herald.notify(send_at=(utcnow() + timedelta(hours=1)).isoformat())
    soon = await herald.notify(send_at=(utcnow() + timedelta(milliseconds=300)).isoformat())
    assert later.json()["status"] == "scheduled" and soon.json()["deliveries"][0]["state"] == "scheduled"
    await herald.drain()
    assert herald.inbox.entries() == []
    await asyncio.sleep(0.4)
    await herald.drain()
    assert len(herald.inbox.entries()) == 1
    assert (await herald.notification(soon.json()["id"]))["status"] == "delivered"
    assert (await herald.notification(later.json()["id"]))["status"] == "scheduled"


async def test_rate_limit_defers_by_default(herald: Herald) -> None:
    herald.runtime.settings.rate_limits = {Channel.EMAIL: RateLimit(limit=2, period=timedelta(hours=1))}
    await herald.user()
    await herald.template()
    ids = [(await herald.notify()).json()["id"] for _ in range(3)]
    critical = await herald.notify(critical=True)
    await herald.drain()
    assert len(herald.inbox.entries()) == 3  # two within the limit, plus the critical one
    deferred = [d for i in ids for d in (await herald.notification(i))["deliveries"] if d["state"] == "queued"]
    assert len(deferred) == 1 and deferred[0]["reason"] == "rate_limited"
    assert deferred[0]["attempts"] == 0
    assert (await herald.notification(critical.json()["id"]))["status"] == "delivered"


async def test_rate_limit_skips_when_the_category_says_so(herald: Herald) -> None:
    s = herald.runtime.settings
    s.rate_limits = {Channel.EMAIL: RateLimit(limit=1, period=timedelta(hours=1))}
    s.rate_limit_policy = {"*": "defer", "marketing": "skip"}
    await herald.user()
    await herald.template()
    first = await herald.notify(category="marketing")
    second = await herald.notify(category="marketing")
    await herald.drain()
    # One takes the hour's one slot, the other is skipped, not deferred. Which one is the
    # claim's and the sends' order: both may be claimed in one batch, sent side by side.
    found = [(await herald.notification(n.json()["id"]))["deliveries"][0] for n in (first, second)]
    assert sorted((d["state"], d["reason"]) for d in found) == [("delivered", None), ("skipped", "rate_limited")]


async def test_killed_workers_lease_is_picked_up_again(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.housekeeping()
    # A worker claims the delivery and dies before settling it.
    jobs = await herald.runtime.claim.take(Channel.EMAIL, "dead-worker", 10, timedelta(milliseconds=500))
    assert len(jobs) == 1
    stop = asyncio.Event()
    live = asyncio.create_task(herald.runtime.worker(Channel.EMAIL, lease=0.5).run(stop))
    await asyncio.sleep(0.2)
    stop.set()
    await live
    assert herald.inbox.entries() == []  # still leased to the dead worker
    async with herald.runtime.sessions() as s:
        d = await s.scalar(select(Delivery))
        assert d is not None and d.state == DeliveryState.SENDING and d.lease_owner == "dead-worker"
    await asyncio.sleep(0.35)
    await herald.drain(lease=0.5)  # a claimer takes over entries idle longer than its lease
    assert len(herald.inbox.entries()) == 1
    n = await herald.notification(r.json()["id"])
    assert n["status"] == "delivered"
    # The dead worker may have sent it before dying: the takeover's send is counted as a
    # possible duplicate, not passed off as a first send.
    async with herald.runtime.sessions() as s:
        d = await s.scalar(select(Delivery))
        assert d is not None and d.unknowns == 1
    lost, resent = n["deliveries"][0]["attempt_log"]
    assert (lost["outcome"], lost["code"]) == ("unknown", "worker_lost")  # the dead worker's send, on record
    assert "unknown outcome" in (resent["detail"] or "")


async def test_deleted_user_is_skipped(herald: Herald) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.client.delete("/v1/users/42")
    await herald.drain()
    assert (await herald.notification(r.json()["id"]))["deliveries"][0]["reason"] == "user_deleted"
