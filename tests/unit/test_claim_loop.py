"""The claim loop goes back to the queue while a claimed batch loads, at most two batches ahead."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from herald.delivery.pipeline import Pipeline
from herald.delivery.recorder import Recorder
from herald.kit.channels import Channel
from herald.queue.interface import Broker, Job
from herald.workers.channel import ChannelWorker


class _Broker:
    def __init__(self) -> None:
        self.claims = 0
        self.acked: list[uuid.UUID] = []

    async def claim(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        self.claims += 1
        await asyncio.sleep(0)
        return [Job(uuid.uuid4(), f"{self.claims}-0")]

    async def wait(self, channel: Channel, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def ack(self, channel: Channel, jobs: Sequence[Job]) -> None:
        self.acked += [j.delivery_id for j in jobs]


class _Pipeline:
    """A load that waits until released, counting how many wait at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.loading = 0
        self.most = 0

    async def prepare(self, jobs: Sequence[Job], owner: str) -> list[Any]:
        self.loading += 1
        self.most = max(self.most, self.loading)
        await self.release.wait()
        self.loading -= 1
        return []  # leased away meanwhile: the worker acks them as stale


async def test_claims_continue_while_a_batch_loads() -> None:
    broker, pipeline = _Broker(), _Pipeline()
    worker = ChannelWorker(
        Channel.EMAIL,
        cast(Broker, broker),
        cast(Pipeline, pipeline),
        cast(Recorder, None),
        concurrency=64,
        claim_batch=8,
        lease=5.0,
        poll_interval=0.01,
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    for _ in range(50):
        await asyncio.sleep(0)
    # The first load has not finished, yet a second batch was claimed; no third load started.
    assert broker.claims == 2 and pipeline.most == 2 and broker.acked == []
    pipeline.release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(run, 5)
    assert broker.claims > 2 and len(broker.acked) == broker.claims


class _FailingPipeline:
    async def prepare(self, jobs: Sequence[Job], owner: str) -> list[Any]:
        raise ConnectionError("the database went away")


async def test_a_failed_load_backs_the_claims_off() -> None:
    """A load that fails leaves its batch leased; claiming on at full speed would lease
    batch after batch that nobody can send until their leases run out."""
    broker = _Broker()
    worker = ChannelWorker(
        Channel.EMAIL,
        cast(Broker, broker),
        cast(Pipeline, _FailingPipeline()),
        cast(Recorder, None),
        concurrency=64,
        claim_batch=8,
        lease=5.0,
        poll_interval=5.0,  # a backoff of 5 s: far longer than this test runs
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        await asyncio.sleep(0)
    assert broker.claims <= 2
    stop.set()
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
