"""The dispatcher: claims due messages with a lease, posts them signed, records every attempt.

Any number of dispatchers run side by side (in each `herald worker`, and in `herald run`):
a claim leases messages by moving their `next_at` a lease ahead under `FOR UPDATE SKIP
LOCKED`, so a dispatcher killed mid-post leaves its messages due again when the lease runs
out, for another to take; its late verdict, if it ever came, is ignored (`lease_owner`).

Posts go through the egress guard at connect time (the name is resolved then, and only
public addresses are connected to; no redirect is followed), with a short timeout, at most
`concurrency` at once and `per_endpoint` per endpoint, so one slow receiver cannot hold
every slot. A failure waits its turn on the retry ladder (`schedule`, with jitter); an
endpoint whose every attempt has failed for `disable_after` is disabled, with the reason.
Time comes from `clock`, so tests step through days of retries without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.config import WebhookSettings
from herald.kit.clock import utcnow
from herald.kit.egress import EGRESS_DENIED, EgressRefused, Guard
from herald.kit.ids import uuid7
from herald.kit.secrets import Vault
from herald.webhooks import repository, signing
from herald.webhooks.models import MessageState
from herald.webhooks.repository import Claimed, Sealed
from herald.webhooks.subscriptions import Subscriptions

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# What of a receiver's answer is read: nothing is kept, and a hostile one may send gigabytes.
_READ = 4096
USER_AGENT = "Herald-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    latency_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    secrets: tuple[str, ...]  # newest first


def dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:webhooks:{uuid.uuid4().hex[:8]}"


class WebhookDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        vault: Vault,
        guard: Guard,
        settings: WebhookSettings,
        *,
        clock: Clock = utcnow,
        owner: str | None = None,
        on_disabled: Callable[[uuid.UUID], None] | None = None,
        subscriptions: Subscriptions | None = None,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._guard = guard
        self.settings = settings
        self._clock = clock
        self.owner = owner or dispatcher_id()
        self._on_disabled = on_disabled
        # With no enabled endpoint anywhere there is nothing to claim: a deployment without
        # webhooks pays no claim a second (on SQLite, the write lock it would take).
        self._subscriptions = subscriptions
        # The lease must outlast a post, or a slow one would be taken over and sent twice.
        self._lease = max(settings.lease, settings.timeout * 2)
        self._busy: dict[uuid.UUID, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._opened: dict[str, str] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.settings.concurrency, resolver=self._guard.resolver())
            timeout = self.settings.timeout.total_seconds()
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0)),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": USER_AGENT},
            )
        return self._session

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and post until `stop`; then let posts in flight finish (a timeout at most)."""
        poll = self.settings.poll_interval.total_seconds()
        while not stop.is_set():
            free = self.settings.concurrency - len(self._tasks)
            if free <= 0:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                idle = self._subscriptions is not None and not await self._subscriptions.any()
                started = [] if idle else await self._claim(free)
            except Exception:
                log.exception("webhooks: claim failed; backing off")
                started = []
            if not started:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)
        if self._tasks:
            _, left = await asyncio.wait(self._tasks, timeout=self.settings.timeout.total_seconds() + 1)
            for task in left:  # left leased: another dispatcher takes them over
                task.cancel()

    async def run_once(self) -> int:
        """Claim what is due now (one batch) and post it all; how many were claimed."""
        started = await self._claim(self.settings.concurrency)
        if started:
            await asyncio.gather(*started)
        return len(started)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _claim(self, limit: int) -> list[asyncio.Task[None]]:
        per = self.settings.per_endpoint
        busy = [e for e, n in self._busy.items() if n >= per]
        now = self._clock()
        async with self._engine.begin() as conn:
            claimed = await repository.claim(conn, self.owner, now, now + self._lease, limit, busy)
            if not claimed:
                return []
            targets = await repository.targets(conn, list({m.endpoint_id for m in claimed}))
        keep, surplus = [], []
        taken: dict[uuid.UUID, int] = {}
        for m in claimed:
            n = self._busy.get(m.endpoint_id, 0) + taken.get(m.endpoint_id, 0)
            if n < per and m.endpoint_id in targets:
                taken[m.endpoint_id] = taken.get(m.endpoint_id, 0) + 1
                keep.append(m)
            else:
                surplus.append(m.id)
        if surplus:
            async with self._engine.begin() as conn:
                await repository.release(conn, self.owner, surplus, now)
        started = []
        for m in keep:
            row = targets[m.endpoint_id]
            self._busy[m.endpoint_id] = self._busy.get(m.endpoint_id, 0) + 1
            task = asyncio.create_task(self._deliver(m, Target(row.url, self._secrets(row, now))))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    def _secrets(self, row: Sealed, now: datetime) -> tuple[str, ...]:
        """The secrets to sign with: the current one, and the one before during its overlap."""
        sealed = [row.secret]
        if row.previous is not None and row.previous_until is not None and row.previous_until > now:
            sealed.append(row.previous)
        return tuple(self._open(s) for s in sealed)

    def _open(self, sealed: str) -> str:
        secret = self._opened.get(sealed)
        if secret is None:
            if len(self._opened) > 1024:
                self._opened.clear()
            secret = self._opened[sealed] = self._vault.open(sealed)
        return secret

    async def _deliver(self, m: Claimed, target: Target) -> None:
        try:
            at = self._clock()
            outcome = await self._post(target, str(m.id), at, m.body.encode())
            await self._record(m, outcome, at)
        except Exception:
            # Left leased: the lease expiry makes it due again, so nothing is lost.
            log.exception("webhook message %s could not be posted or recorded", m.id)
        finally:
            left = self._busy.get(m.endpoint_id, 1) - 1
            if left > 0:
                self._busy[m.endpoint_id] = left
            else:
                self._busy.pop(m.endpoint_id, None)

    async def _post(self, target: Target, message_id: str, at: datetime, body: bytes) -> Outcome:
        refused = self._guard.refusal(target.url)
        if refused is not None:
            return Outcome(None, 0, f"{EGRESS_DENIED}: {refused}")
        headers = signing.headers(message_id, at, body, target.secrets)
        t0 = time.perf_counter()
        try:
            async with self._client().post(target.url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(_READ)
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            kind = EGRESS_DENIED if isinstance(exc.os_error, EgressRefused) else "connect_error"
            return Outcome(None, _ms(t0), f"{kind}: {exc.os_error or exc}")
        except TimeoutError:
            return Outcome(None, _ms(t0), "timeout: no answer in time")
        except aiohttp.ClientError as exc:
            return Outcome(None, _ms(t0), f"client_error: {exc or type(exc).__name__}")
        error = "redirects are not followed" if 300 <= status < 400 else None
        return Outcome(status, _ms(t0), error)

    async def _record(self, m: Claimed, outcome: Outcome, at: datetime) -> None:
        now = self._clock()
        number = m.attempts + 1
        schedule = self.settings.schedule
        values: dict[str, Any]
        if outcome.ok:
            values = {"state": MessageState.DELIVERED, "next_at": None, "finished_at": now}
        elif m.step < len(schedule):
            delay = schedule[m.step] * (0.9 + 0.2 * random.random())
            values = {"step": m.step + 1, "next_at": now + delay}
        else:
            values = {"state": MessageState.FAILED, "next_at": None, "finished_at": now}
        disabled = False
        async with self._engine.begin() as conn:
            held = await repository.settle(conn, self.owner, m.id, {"attempts": number, **values})
            if held or await repository.message_exists(conn, m.id):
                await repository.log_attempt(
                    conn,
                    {
                        "id": uuid7(),
                        "message_id": m.id,
                        "endpoint_id": m.endpoint_id,
                        "app_id": m.app_id,
                        "number": number,
                        "status_code": outcome.status,
                        "latency_ms": outcome.latency_ms,
                        "error": (outcome.error or None) and outcome.error[:200],
                        "attempted_at": at,
                    },
                )
            if outcome.ok:
                await repository.mark_succeeding(conn, m.endpoint_id)
            else:
                disabled = await self._maybe_disable(conn, m.endpoint_id, now)
        if disabled:
            log.warning("webhook endpoint %s disabled: every attempt failed for %s", m.endpoint_id, self._limit)
            if self._on_disabled is not None:
                self._on_disabled(m.endpoint_id)

    @property
    def _limit(self) -> timedelta:
        return self.settings.disable_after

    async def _maybe_disable(self, conn: AsyncConnection, endpoint_id: uuid.UUID, now: datetime) -> bool:
        failing = await repository.mark_failing(conn, endpoint_id, now)
        if failing is None:
            return False
        since, enabled = failing
        if not enabled or now - since < self._limit:
            return False
        reason = (
            f"every attempt failed from {since.isoformat(timespec='seconds')} to {now.isoformat(timespec='seconds')}"
        )
        return await repository.disable(conn, endpoint_id, reason, now)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
