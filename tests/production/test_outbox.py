"""With Redis, a request publishes its own deliveries after its commit; the outbox row it
committed with them is deleted once they are out, and is the relay's only if the publish
never happened."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from herald.kit.channels import Channel
from herald.queue.models import OutboxEntry
from herald.queue.outbox import Outbox
from herald.queue.relay import relay_once
from herald.runtime import Runtime
from tests.harness import Herald

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


async def outbox_rows(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def the_outbox(runtime: Runtime) -> Outbox:
    assert runtime.outbox is not None
    return runtime.outbox


async def notify_unpublished(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, channels: Sequence[str] = ("email",)
) -> httpx.Response:
    """A notification accepted while Redis was away for the request's publish only."""
    await herald.user()
    await herald.template()
    real = runtime.broker.publish

    async def refuse(batches: Mapping[Channel, Sequence[Any]]) -> None:
        monkeypatch.setattr(runtime.broker, "publish", real)
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(runtime.broker, "publish", refuse)
    return await herald.notify(channels=list(channels))


async def test_a_request_publishes_its_deliveries_and_its_outbox_rows_go(herald: Herald, runtime: Runtime) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(channels=["email"])
    assert r.status_code == 202, r.text
    # On the stream with no relay running: a worker claims it at once.
    jobs = await runtime.claim.take(Channel.EMAIL, "w1", 10, timedelta(seconds=30))
    assert [j.delivery_id.hex for j in jobs] == [r.json()["deliveries"][0]["id"].replace("-", "")]
    await the_outbox(runtime).close()  # the batched delete has run
    assert await outbox_rows(runtime) == 0
    assert await relay_once(runtime.engine, runtime.broker, grace=timedelta(0)) == 0


async def test_a_publish_that_failed_is_left_to_the_relay_past_its_grace(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await notify_unpublished(herald, runtime, monkeypatch)
    assert r.status_code == 202, r.text  # committed: the request succeeded
    await the_outbox(runtime).close()
    assert await outbox_rows(runtime) == 1
    assert await runtime.claim.take(Channel.EMAIL, "w1", 10, timedelta(seconds=30)) == []
    # Young, it might still be its request's to publish; past the grace it is the relay's.
    assert await relay_once(runtime.engine, runtime.broker) == 0
    assert await relay_once(runtime.engine, runtime.broker, grace=timedelta(0)) == 1
    assert await outbox_rows(runtime) == 0
    await herald.drain()
    assert len(herald.inbox.entries()) == 1
    assert (await herald.notification(r.json()["id"]))["status"] == "delivered"


async def test_a_request_of_several_channels_leaves_one_row_the_relay_splits_by_channel(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await notify_unpublished(herald, runtime, monkeypatch, channels=["email", "sms"])
    assert r.status_code == 202, r.text
    await the_outbox(runtime).close()
    assert await outbox_rows(runtime) == 1  # one request, one row, however many deliveries
    assert await relay_once(runtime.engine, runtime.broker, grace=timedelta(0)) == 2
    ids = {d["channel"]: d["id"].replace("-", "") for d in r.json()["deliveries"]}
    for channel in (Channel.EMAIL, Channel.SMS):
        jobs = await runtime.claim.take(channel, "w1", 10, timedelta(seconds=30))
        assert [j.delivery_id.hex for j in jobs] == [ids[channel.value]]


async def test_a_replayed_dead_letter_is_published_by_its_request_too(herald: Herald, runtime: Runtime) -> None:
    await herald.user()
    await herald.template()
    r = await herald.notify(channels=["email"])
    delivery = r.json()["deliveries"][0]["id"]
    await herald.drain()
    async with runtime.engine.begin() as conn:  # as if it had died after its retries
        await conn.exec_driver_sql("UPDATE deliveries SET state = 'dead' WHERE channel = 'email'")
    before = len(herald.inbox.entries())
    assert (await herald.client.post(f"/v1/dead-letters/{delivery}/replay")).json()["replayed"] == 1
    await herald.drain()
    assert len(herald.inbox.entries()) == before + 1
    await the_outbox(runtime).close()
    assert await outbox_rows(runtime) == 0


async def test_the_relay_does_not_wait_for_its_delete_to_be_flushed(
    herald: Herald, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await notify_unpublished(herald, runtime, monkeypatch)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split())[:40])

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await relay_once(runtime.engine, runtime.broker, grace=timedelta(0)) == 1
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    # Only the relay's own transaction: the intake's commits stay synchronous.
    assert statements[0] == "SET LOCAL synchronous_commit = off", statements
    assert statements[1].startswith("DELETE FROM outbox"), statements
    async with runtime.engine.connect() as conn:
        assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
