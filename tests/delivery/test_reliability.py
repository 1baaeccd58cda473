"""The retry ladder, dead letters and replay, unknown outcomes, graceful drain, a database outage."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from herald.api.app import create_app
from herald.cli.main import app as cli
from herald.config import RetrySettings, Settings
from herald.delivery.retry import next_delay
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.notifications.models import Delivery
from herald.runtime import build_runtime
from herald.sandbox.faults import FaultSettings
from herald.sandbox.smtp import SmtpSimulator
from herald.workers.reconciler import reconcile_once
from tests.conftest import settings_for
from tests.harness import Herald


async def dead_letter(herald: Herald) -> str:
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.finish()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    assert d["state"] == "dead"
    return str(d["id"])


async def test_transient_failures_climb_the_ladder_to_dead(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))
    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.finish()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    policy = herald.runtime.settings.retry
    assert (d["state"], d["reason"], d["attempts"]) == ("dead", "4.3.0", policy.max_attempts)
    log = d["attempt_log"]
    assert [a["outcome"] for a in log] == ["retry"] * policy.max_attempts
    assert [a["number"] for a in log] == list(range(1, policy.max_attempts + 1))
    gaps = [(b["started_at"], a["started_at"]) for a, b in itertools.pairwise(log)]
    assert all(later > earlier for later, earlier in gaps)
    assert smtp_sim.inbox.entries() == []


async def test_a_retry_waits_aside_and_good_messages_are_not_delayed(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    herald.runtime.settings.retry = RetrySettings(base=timedelta(seconds=30))
    await herald.user()
    await herald.template()
    smtp_sim.faults.configure(FaultSettings(error_rates={"421": 1.0}))
    slow = await herald.notify()
    await herald.drain()
    smtp_sim.faults.reset()
    good = await herald.notify()
    await herald.drain()
    waiting = (await herald.notification(slow.json()["id"]))["deliveries"][0]
    assert (waiting["state"], waiting["reason"], waiting["attempts"]) == ("queued", "4.3.2", 1)
    assert (await herald.notification(good.json()["id"]))["status"] == "delivered"
    assert len(smtp_sim.inbox.entries()) == 1


def test_retry_after_sets_the_floor_of_the_wait() -> None:
    policy = RetrySettings(base=timedelta(seconds=1))
    assert next_delay(1, policy, retry_after=120) == 120
    assert next_delay(1, policy, retry_after=None) <= 1


async def test_dead_letters_list_inspect_and_replay_once(
    herald: Herald, smtp_sim: SmtpSimulator, other_client: httpx.AsyncClient
) -> None:
    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))
    dead_id = await dead_letter(herald)
    page = (await herald.client.get("/v1/dead-letters", params={"channel": "email"})).json()
    assert [d["id"] for d in page["items"]] == [dead_id]
    assert (await herald.client.get("/v1/dead-letters", params={"channel": "sms"})).json()["items"] == []
    one = (await herald.client.get(f"/v1/dead-letters/{dead_id}")).json()
    assert one["reason"] == "4.3.0" and len(one["attempt_log"]) == one["attempts"]
    assert (await other_client.get(f"/v1/dead-letters/{dead_id}")).status_code == 404
    assert (await other_client.post(f"/v1/dead-letters/{dead_id}/replay")).json()["replayed"] == 0

    smtp_sim.faults.reset()
    first = await herald.client.post(f"/v1/dead-letters/{dead_id}/replay")
    second = await herald.client.post(f"/v1/dead-letters/{dead_id}/replay")
    assert first.json()["replayed"] == 1 and second.json()["replayed"] == 0
    await herald.finish()
    [msg] = smtp_sim.inbox.entries()
    assert msg.key == dead_id.replace("-", "")  # the same idempotency key as every earlier attempt
    assert (await herald.client.get("/v1/dead-letters")).json()["items"] == []


async def test_replay_gets_a_fresh_budget_and_bulk_replay_filters(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))
    dead_id = await dead_letter(herald)
    r = await herald.client.post(
        "/v1/dead-letters/replay", json={"channel": "email", "since": (utcnow() - timedelta(hours=1)).isoformat()}
    )
    assert r.json()["ids"] == [dead_id]
    await herald.finish()  # still failing: a full second ladder, then dead again
    again = (await herald.client.get(f"/v1/dead-letters/{dead_id}")).json()
    assert again["replays"] == 1 and again["attempts"] == 2 * herald.runtime.settings.retry.max_attempts
    assert (await herald.client.post("/v1/dead-letters/replay", json={})).status_code == 422


async def test_cli_replays_dead_letters(
    herald: Herald, smtp_sim: SmtpSimulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_sim.faults.configure(FaultSettings(error_rates={"451": 1.0}))
    dead_id = await dead_letter(herald)
    smtp_sim.faults.reset()
    monkeypatch.setenv("HERALD_DATABASE_URL", settings.effective_database_url())
    monkeypatch.setenv("HERALD_SECRET_KEY", settings.effective_secret_key().get_secret_value())
    monkeypatch.setenv("HERALD_DATA_DIR", str(settings.data_dir))
    if settings.redis_url:
        monkeypatch.setenv("HERALD_REDIS_URL", settings.redis_url)
        monkeypatch.setenv("HERALD_REDIS__PREFIX", settings.redis.prefix)
    listed = await asyncio.to_thread(CliRunner().invoke, cli, ["dlq", "list", "--channel", "email"])
    assert listed.exit_code == 0 and "4.3.0" in listed.output
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["dlq", "show", uuid.UUID(str(dead_id)).hex])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("smtp") >= herald.runtime.settings.retry.max_attempts and "451" in shown.output
    replayed = await asyncio.to_thread(
        CliRunner().invoke, cli, ["dlq", "replay", "--channel", "email", "--since", "1h"]
    )
    assert replayed.exit_code == 0 and "replayed 1" in replayed.output
    await herald.finish()
    assert len(smtp_sim.inbox.entries()) == 1


async def test_unknown_outcome_resend_is_counted(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    # A retry far off, made due by hand once the fault is gone: with a short ladder, a slow
    # drain could reach the retry while every send was still being dropped.
    herald.runtime.settings.retry = RetrySettings(base=timedelta(minutes=10))
    await herald.user()
    await herald.template()
    smtp_sim.faults.configure(FaultSettings(drop_rate=1.0))
    r = await herald.notify()
    await herald.drain()
    smtp_sim.faults.reset()
    async with herald.runtime.sessions() as session, session.begin():
        await session.execute(update(Delivery).values(available_at=utcnow()))
    await reconcile_once(herald.runtime.sessions, herald.runtime.broker, grace=timedelta(0))
    await herald.finish()
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    assert d["state"] == "delivered"
    assert [a["outcome"] for a in d["attempt_log"]] == ["unknown", "delivered"]
    assert "may be a duplicate" in d["attempt_log"][1]["detail"]
    # SMTP has no way to ask or to collapse: the user really got it twice, and we say so.
    assert len(smtp_sim.inbox.entries()) == 2


async def test_sigterm_drain_finishes_in_flight_sends(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    await herald.user()
    await herald.template()
    ids = [(await herald.notify()).json()["id"] for _ in range(5)]
    await herald.housekeeping()
    smtp_sim.faults.configure(FaultSettings(latency_ms=300))
    stop = asyncio.Event()
    worker = asyncio.create_task(herald.runtime.worker(Channel.EMAIL).run(stop))
    async with asyncio.timeout(10):
        while await herald.sending() == 0:
            await asyncio.sleep(0.01)
    stop.set()  # what SIGTERM does: stop claiming, finish what is in flight
    await worker
    assert await herald.sending() == 0
    assert [(await herald.notification(i))["status"] for i in ids] == ["delivered"] * 5
    assert len(smtp_sim.inbox.entries()) == 5


async def test_database_down_answers_503_and_accepts_nothing(tmp_path: Path) -> None:
    dead = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
    runtime = build_runtime(settings_for(tmp_path, dead))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime.api_services())), base_url="http://h"
    ) as c:
        r = await c.post(
            "/v1/notifications",
            json={
                "event_id": "x",
                "recipient": {"email": "a@example.com"},
                "content": {"email": {"subject": "s", "text": "t"}},
            },
            auth=("hk_x", "secret"),
        )
    await runtime.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "unavailable"


async def test_reconciler_re_drives_what_the_queue_lost(herald: Herald, smtp_sim: SmtpSimulator) -> None:
    """A broker that lost its entries (a Redis restarted without persistence) costs latency:
    the reconciler finds the delivery in the log and announces it again, once."""
    from herald.queue.redis_streams import RedisTransport

    await herald.user()
    await herald.template()
    r = await herald.notify()
    await herald.housekeeping()  # the relay published it
    broker = herald.runtime.broker
    if isinstance(broker, RedisTransport):
        await broker.redis.delete(broker.keys.stream(Channel.EMAIL.value))  # the stream and its group
        assert await herald.runtime.claim.take(Channel.EMAIL, "w", 10, timedelta(seconds=5)) == []
        assert await reconcile_once(herald.runtime.sessions, broker, grace=timedelta(0)) == 1
    else:  # the queue is the log itself: nothing to lose, nothing to re-drive
        assert await reconcile_once(herald.runtime.sessions, broker, grace=timedelta(0)) == 0
    await herald.drain()
    assert len(smtp_sim.inbox.entries()) == 1
    assert (await herald.notification(r.json()["id"]))["status"] == "delivered"
    assert await reconcile_once(herald.runtime.sessions, broker, grace=timedelta(0)) == 0
