"""The claim loop goes back to the queue while a claimed batch loads, at most two batches ahead."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from herald.delivery.claim import Claim, Job
from herald.delivery.pipeline import Pipeline
from herald.delivery.recorder import Recorder
from herald.kit.channels import Channel
from herald.workers.channel import ChannelWorker


class _Transport:
    def __init__(self) -> None:
        self.acked: list[str] = []

    async def ack(self, channel: Channel, receipts: Sequence[str]) -> None:
        self.acked += receipts

    async def delay(self, channel: Channel, due: Sequence[object]) -> None:
        assert not due


class _Claim:
    def __init__(self) -> None:
        self.claims = 0
        self.transport = _Transport()

    async def take(self, channel: Channel, owner: str, limit: int, lease: timedelta) -> list[Job]:
        self.claims += 1
        await asyncio.sleep(0)
        return [Job(uuid.uuid4(), f"{self.claims}-0")]

    async def wait(self, channel: Channel, timeout: float) -> None:
        await asyncio.sleep(timeout)


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
    claim, pipeline = _Claim(), _Pipeline()
    worker = ChannelWorker(
        Channel.EMAIL,
        cast(Claim, claim),
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
    assert claim.claims == 2 and pipeline.most == 2 and claim.transport.acked == []
    pipeline.release.set()
    for _ in range(50):
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(run, 5)
    assert claim.claims > 2 and claim.transport.acked == [f"{n}-0" for n in range(1, claim.claims + 1)]


class _FailingPipeline:
    async def prepare(self, jobs: Sequence[Job], owner: str) -> list[Any]:
        raise ConnectionError("the database went away")


async def test_a_failed_load_backs_the_claims_off() -> None:
    """A load that fails leaves its batch leased; claiming on at full speed would lease
    batch after batch that nobody can send until their leases run out."""
    claim = _Claim()
    worker = ChannelWorker(
        Channel.EMAIL,
        cast(Claim, claim),
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
    assert claim.claims <= 2
    stop.set()
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
