"""A channel worker: claim, hand each delivery to the pipeline, record, ack. Nothing more.

In-flight sends are bounded by `concurrency` (by Little's law, rate x provider latency).
On stop it claims nothing new and lets what it holds finish; anything it cannot finish
stays leased and is re-driven when the lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from herald.delivery.claim import Claim, Job
from herald.delivery.pipeline import Pipeline, Prepared
from herald.delivery.recorder import Recorder
from herald.kit.channels import Channel
from herald.kit.clock import as_utc, utcnow
from herald.kit.metrics import SETTLED, UNRECORDED, UNRECORDED_SECONDS, child
from herald.notifications.models import DeliveryState
from herald.queue.transport import Transport

log = logging.getLogger(__name__)
# Claimed batches being loaded at once. The claim loop goes back to the queue while a batch
# loads, so an entry that arrives meanwhile waits for one round trip, not for a whole load;
# more than two would only split the work into smaller, costlier batches.
_LOADS_AHEAD = 2


class _FollowUps:
    """A transport's acks and retry delays gathered for a few milliseconds and sent together:
    one XACK and one ZADD for many deliveries instead of a round trip (and a connection) each.

    Both only follow a commit, or a load that found the delivery no longer ours. A lost ack
    leaves a stream entry pending, and a later claim finds its delivery settled in the log
    (or leased elsewhere) and drops it; a lost delay leaves a delivery
    `queued` in the log past its due time, which the reconciler re-announces.
    """

    def __init__(self, transport: Transport, channel: Channel) -> None:
        self.transport = transport
        self.channel = channel
        self._jobs: list[Job] = []
        self._due: list[tuple[uuid.UUID, datetime]] = []
        self._flush: asyncio.Task[None] | None = None

    def add(self, job: Job, due: datetime | None = None) -> None:
        self._jobs.append(job)
        if due is not None:
            self._due.append((job.delivery_id, due))
        if self._flush is None:
            self._flush = asyncio.create_task(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(0.002)
        jobs, due, self._jobs, self._due, self._flush = self._jobs, self._due, [], [], None
        try:
            await self.transport.delay(self.channel, due)
        except Exception as exc:
            log.warning("delaying %d retries failed (the reconciler re-announces them): %s", len(due), exc)
        try:
            await self.transport.ack(self.channel, [j.receipt for j in jobs if j.receipt is not None])
        except Exception as exc:
            log.warning("ack of %d jobs failed (they will be dropped on reclaim): %s", len(jobs), exc)

    async def drain(self) -> None:
        while self._flush is not None:
            await self._flush


def worker_id(channel: Channel) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{channel.value}:{uuid.uuid4().hex[:8]}"


def _since_accepted(p: Prepared) -> float:
    """Seconds from acceptance (or the scheduled time) to now, retries and deferrals included."""
    n = p.work.notification
    due = max(as_utc(n.created_at), as_utc(n.send_at)) if n.send_at else as_utc(n.created_at)
    return max(0.0, (utcnow() - due).total_seconds())


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        claim: Claim,
        pipeline: Pipeline,
        recorder: Recorder,
        *,
        concurrency: int,
        claim_batch: int,
        lease: float,
        poll_interval: float,
        owner: str | None = None,
        on_sent: Callable[[str, float], None] | None = None,
    ) -> None:
        self.channel = channel
        # Told of each delivery sent, with its seconds from acceptance (monitoring's throughput).
        self.on_sent = on_sent
        self.claim = claim
        self.pipeline = pipeline
        self.recorder = recorder
        self.concurrency = concurrency
        self.claim_batch = claim_batch
        self.lease = lease
        self.poll_interval = poll_interval
        self.owner = owner or worker_id(channel)
        self._inflight: set[asyncio.Task[None]] = set()
        self._loading: set[asyncio.Task[None]] = set()
        self._preparing = 0  # claimed, not yet started: counted against `concurrency`
        self._last_load: asyncio.Task[None] | None = None
        self._load_failed = False
        # Where the log is the queue, an outcome's commit is its ack and a retry's row its delay.
        self._acks = None if claim.transport is None else _FollowUps(claim.transport, channel)
        self._unrecorded = UNRECORDED.labels(channel.value)
        self._unrecorded_seconds = UNRECORDED_SECONDS.labels(channel.value)

    async def run(self, stop: asyncio.Event) -> None:
        lease = timedelta(seconds=self.lease)
        # Claim in batches: waiting for a quarter of the slots to free up costs a few ms of
        # latency under full load and saves a claim query per completed delivery.
        low_water = max(1, min(self.claim_batch, self.concurrency) // 4)
        backoff = min(5.0, self.poll_interval * 4)
        while not stop.is_set():
            free = self.concurrency - len(self._inflight) - self._preparing
            if free < low_water and (self._inflight or self._loading):
                await asyncio.wait(self._inflight | self._loading, return_when=asyncio.FIRST_COMPLETED)
                continue
            if len(self._loading) >= _LOADS_AHEAD:
                await asyncio.wait(self._loading, return_when=asyncio.FIRST_COMPLETED)
                continue
            if self._load_failed:  # what failed a load would fail the next one too
                self._load_failed = False
                await asyncio.sleep(backoff)
                continue
            try:
                jobs = await self.claim.take(self.channel, self.owner, min(free, self.claim_batch), lease)
                if not jobs:
                    await self.claim.wait(self.channel, self.poll_interval)
                    continue
            except Exception:
                log.exception("%s worker: claim failed; backing off", self.channel.value)
                await asyncio.sleep(backoff)
                continue
            self._preparing += len(jobs)
            task = asyncio.create_task(self._start(jobs, after=self._last_load))
            self._last_load = task
            self._loading.add(task)
            task.add_done_callback(self._loading.discard)
        if self._loading:
            await asyncio.wait(self._loading)
        if self._inflight:
            # Finish what is in flight, but no longer than a lease: past it, another worker may
            # take the work over anyway, and what is left stays leased for exactly that.
            _, left = await asyncio.wait(self._inflight, timeout=self.lease)
            if left:
                log.warning("%s worker: %d sends unfinished at shutdown; left leased", self.channel.value, len(left))
                for task in left:
                    task.cancel()
                await asyncio.wait(left)
        if self._acks is not None:
            await self._acks.drain()

    async def _start(self, jobs: list[Job], after: asyncio.Task[None] | None) -> None:
        """Load a claimed batch and start its sends, while the loop above claims the next.

        Sends start in the order their batches were claimed (`after`: the batch before), so
        the older of two notifications still takes a rate limit's last slot. A failed load
        leaves the batch leased, so the lease expiry re-drives it.
        """
        try:
            by_id = {j.delivery_id: j for j in jobs}
            prepared = await self.pipeline.prepare(list(by_id.values()), self.owner)
            if after is not None and not after.done():
                await asyncio.wait([after])
            for p in prepared:
                task = asyncio.create_task(self._handle(p, by_id[p.work.delivery.id]))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            loaded = {p.work.delivery.id for p in prepared}
            for j in jobs:  # leased away or settled meanwhile: nothing for us to do but ack
                if j.delivery_id not in loaded and self._acks is not None:
                    self._acks.add(j)
        except Exception:
            log.exception("%s worker: loading %d claimed deliveries failed; left leased", self.channel.value, len(jobs))
            self._load_failed = True
        finally:
            self._preparing -= len(jobs)

    async def _handle(self, p: Prepared, job: Job) -> None:
        self._unrecorded.inc()
        t0 = time.perf_counter()
        try:
            result = await self.pipeline.process(p, self.owner)
            await self.recorder.record(result)
            self._unrecorded_seconds.observe(time.perf_counter() - t0)
            child(SETTLED, self.channel.value, result.state).inc()
            if self.on_sent is not None and result.state == DeliveryState.DELIVERED:
                self.on_sent(self.channel.value, _since_accepted(p))
            if self._acks is not None:
                retry = result.state == DeliveryState.QUEUED and result.available_at is not None
                self._acks.add(job, result.available_at if retry else None)
        except Exception:
            # Left leased: the lease expiry re-drives it, so nothing is lost.
            log.exception("delivery %s could not be settled", job.delivery_id)
        finally:
            self._unrecorded.dec()
