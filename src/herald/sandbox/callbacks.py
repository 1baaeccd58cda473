"""Provider callbacks, delivered the way the real services deliver them.

A simulator that has accepted a message builds each callback the real provider would send
(its URL, form or JSON body, and a signer that adds the provider's signature) and hands it to
its `Dispatcher`. The dispatcher posts it later, in the background, the way the real
services do: after a delay, sometimes twice, sometimes out of order, sometimes never, and
again with backoff when the receiver answers non-2xx or cannot be reached.

Those behaviours are `CallbackSettings`, changed at run time over the control API like the
simulators' faults (`PUT /_sandbox/{simulator}/callbacks`). Every decision comes from one
seeded random generator, drawn when the callback is submitted, so a seed and the same
sequence of submissions give the same plan (drops, duplicates, extra delays) in every run.

What was answered 2xx is recorded per simulator (`GET /_sandbox/{simulator}/callbacks`):
a test or the chaos run compares a delivery's final state in Herald with the callbacks the
receiver really accepted, not with what the simulator merely meant to send.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import web
from pydantic import BaseModel, Field

# Records kept per simulator; the oldest tenth goes when full, so a long run stays bounded.
_MAX_RECORDED = 200_000

T = TypeVar("T")


class CallbackSettings(BaseModel):
    """The JSON body of `PUT /_sandbox/{simulator}/callbacks`."""

    # Every callback waits this long after the send (or after the previous callback of the
    # same message, for the next status in its sequence).
    delay_ms: float = Field(default=200.0, ge=0)
    # Probability that a callback is delivered a second time (the same payload, re-signed).
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    # Each callback waits up to this much more, drawn uniformly: callbacks submitted within
    # one window can overtake each other (a "delivered" before its "sent").
    reorder_window_ms: float = Field(default=0.0, ge=0)
    # Probability that a callback is never sent at all.
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    # Attempts per callback when the receiver answers non-2xx or cannot be reached, and the
    # wait before the second attempt (doubled before each next one). The real services go on
    # for hours (SendGrid 24 h, Vonage 72 h), which a test or a chaos run cannot wait for.
    attempts: int = Field(default=4, ge=1, le=20)
    retry_backoff_ms: float = Field(default=500.0, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)
    # The statuses of one message follow each other this far apart (queued, sent, delivered).
    step_ms: float = Field(default=50.0, ge=0)
    # Providers that batch (SendGrid's Event Webhook, Mailchimp's webhooks) post what
    # gathered over this window in one request, at most `batch_max` events each.
    batch_window_ms: float = Field(default=100.0, ge=0)
    batch_max: int = Field(default=1000, ge=1)
    # Reseeds the generator when set, so a run can be replayed.
    seed: int | None = None


class Signer(Protocol):
    def __call__(self, callback: Callback, /) -> Callback:
        """The callback as it goes on the wire: its signature added, computed at send time
        (SendGrid signs the moment of sending, so each attempt is signed again)."""


@dataclass(frozen=True, slots=True)
class Callback:
    """One HTTP request a provider makes to its customer."""

    url: str
    method: str = "POST"
    # Exactly one of form (application/x-www-form-urlencoded), body (raw bytes, e.g. a JSON
    # array; set Content-Type in headers) or query (GET parameters) is normally given.
    form: Mapping[str, str] | None = None
    body: bytes | None = None
    query: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    sign: Signer | None = None
    # For inspection only, never sent: Herald's delivery key and the event this reports
    # (e.g. "delivered"), so a comparison need not parse each provider's payload.
    key: str | None = None
    event: str | None = None

    def payload(self) -> Any:
        """What was sent, as JSON: the form or query parameters, or the parsed body."""
        if self.form is not None:
            return dict(self.form)
        if self.query is not None:
            return dict(self.query)
        if self.body is None:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return self.body.decode("utf-8", "replace")


@dataclass(slots=True)
class Record:
    """A callback's fate: sent and answered 2xx (`status`), failed after every attempt, or
    dropped on purpose (never sent)."""

    seq: int  # order of submission
    callback: Callback
    duplicate: bool  # the second copy of a duplicated callback
    due_in_ms: float  # planned wait before the first attempt
    outcome: str = "pending"  # pending | delivered | failed | dropped
    status: int | None = None  # the last HTTP status, None if never answered
    attempts: int = 0
    sent_at: float | None = None  # when the answered attempt (or the last one) went out
    order: int | None = None  # position among the 2xx deliveries of this dispatcher
    sent: Callback | None = None  # the callback as signed on its last attempt

    def to_json(self) -> dict[str, Any]:
        wire = self.sent or self.callback
        return {
            "seq": self.seq,
            "order": self.order,
            "outcome": self.outcome,
            "url": wire.url,
            "method": wire.method,
            "headers": dict(wire.headers),
            "payload": wire.payload(),
            "key": wire.key,
            "event": wire.event,
            "duplicate": self.duplicate,
            "due_in_ms": self.due_in_ms,
            "status": self.status,
            "attempts": self.attempts,
            "sent_at": self.sent_at,
        }


class Dispatcher:
    """One simulator's outgoing callbacks: planned on submit, posted in the background."""

    def __init__(self, name: str, settings: CallbackSettings | None = None, *, seed: int | None = None) -> None:
        self.name = name
        self.settings = settings or CallbackSettings()
        self._rng = random.Random(seed if seed is not None else self.settings.seed)
        self._seq = itertools.count(1)
        self._order = itertools.count(1)
        self.records: list[Record] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._batchers: list[Batcher[Any]] = []

    def configure(self, settings: CallbackSettings) -> None:
        self.settings = settings
        if settings.seed is not None:
            self._rng = random.Random(settings.seed)

    def reset(self) -> None:
        """Default settings, and the records forgotten (callbacks in flight still go out)."""
        self.settings = CallbackSettings()
        self.records.clear()

    def submit(self, callback: Callback, *, after_ms: float = 0.0) -> list[Record]:
        """Plan `callback` (and its duplicate, if drawn) and start it; returns the plan.

        `after_ms` is added to the delay: a simulator passes it to space the statuses of one
        message (queued, then sent, then delivered) the way they follow each other.
        """
        s = self.settings
        copies = 2 if self._rng.random() < s.duplicate_rate else 1
        plans: list[Record] = []
        for n in range(copies):
            dropped = self._rng.random() < s.drop_rate
            extra = self._rng.uniform(0.0, s.reorder_window_ms) if s.reorder_window_ms else 0.0
            record = Record(
                seq=next(self._seq), callback=callback, duplicate=n > 0, due_in_ms=s.delay_ms + after_ms + extra
            )
            plans.append(record)
            self._keep(record)
            if dropped:
                record.outcome = "dropped"
            elif not self._closed:
                self._start(record)
        return plans

    def submit_all(self, callbacks: Iterable[Callback]) -> list[Record]:
        """A message's status sequence: each one `step_ms` after the previous."""
        plans: list[Record] = []
        for n, callback in enumerate(callbacks):
            plans += self.submit(callback, after_ms=n * self.settings.step_ms)
        return plans

    def _keep(self, record: Record) -> None:
        if len(self.records) >= _MAX_RECORDED:
            del self.records[: _MAX_RECORDED // 10]
        self.records.append(record)

    def _start(self, record: Record) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, record: Record) -> None:
        s = self.settings
        await asyncio.sleep(record.due_in_ms / 1000)
        backoff = s.retry_backoff_ms / 1000
        for attempt in range(1, s.attempts + 1):
            record.attempts = attempt
            wire = record.callback.sign(record.callback) if record.callback.sign else record.callback
            record.sent, record.sent_at = wire, time.time()
            record.status = await self._post(wire, s.timeout_s)
            if record.status is not None and 200 <= record.status < 300:
                record.outcome, record.order = "delivered", next(self._order)
                return
            if attempt < s.attempts:
                await asyncio.sleep(backoff)
                backoff *= 2
        record.outcome = "failed"

    async def _post(self, wire: Callback, timeout: float) -> int | None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        data: bytes | str | None = wire.body
        headers = dict(wire.headers)
        if wire.form is not None:
            data = urlencode(list(wire.form.items()))
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        url = wire.url
        if wire.query is not None:
            url += ("&" if "?" in url else "?") + urlencode(list(wire.query.items()))
        try:
            async with self._session.request(
                wire.method, url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every planned callback has been delivered or given up (tests and the
        chaos run use this instead of sleeping), events still gathering in a batch included."""
        for batcher in self._batchers:
            await batcher.settle()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop: callbacks not yet sent are abandoned (a stopped provider calls nobody)."""
        self._closed = True
        for batcher in self._batchers:
            batcher.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for record in self.records:
            if record.outcome == "pending":
                record.outcome = "failed"
        if self._session is not None:
            await self._session.close()
            self._session = None

    def delivered(self) -> list[Record]:
        """The callbacks the receiver answered 2xx, in the order it answered them."""
        done = [r for r in self.records if r.outcome == "delivered"]
        return sorted(done, key=lambda r: r.order or 0)

    def describe(self, *, since: int = 0, limit: int = 1000, outcome: str | None = None) -> dict[str, Any]:
        counts: dict[str, int] = {"pending": 0, "delivered": 0, "failed": 0, "dropped": 0, "duplicates": 0}
        for r in self.records:
            counts[r.outcome] += 1
            counts["duplicates"] += r.duplicate
        chosen = [r for r in self.records if r.seq > since and (outcome is None or r.outcome == outcome)]
        return {
            "settings": self.settings.model_dump(),
            "counts": counts,
            "callbacks": [r.to_json() for r in chosen[:limit]],
        }


class Batcher(Generic[T]):
    """Events gathered into batches, each batch one callback, as SendGrid and Mailchimp post.

    `add(event, step)` puts an event in the batch open `step` status steps from now (a
    message's later statuses land in later batches); a batch is handed to the dispatcher
    `batch_window_ms` after its first event, or at once when it holds `batch_max` events.
    `build` turns a batch into the callback (URL, body, signer), or None to send nothing
    (no URL configured any more).
    """

    def __init__(self, dispatcher: Dispatcher, build: Callable[[list[T]], Callback | None]) -> None:
        self.dispatcher = dispatcher
        self._build = build
        self._open: list[T] = []
        self._timer: asyncio.TimerHandle | None = None
        self._later: set[asyncio.TimerHandle] = set()
        dispatcher._batchers.append(self)

    def add(self, event: T, step: int = 0) -> None:
        if step <= 0:
            self._add_now(event)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._later.discard(handle)
            self._add_now(event)

        handle = loop.call_later(step * self.dispatcher.settings.step_ms / 1000, fire)
        self._later.add(handle)

    def _add_now(self, event: T) -> None:
        s = self.dispatcher.settings
        self._open.append(event)
        if len(self._open) >= s.batch_max:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(s.batch_window_ms / 1000, self.flush)

    def flush(self) -> None:
        """Hand the open batch to the dispatcher now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._open = self._open, []
        if batch:
            callback = self._build(batch)
            if callback is not None:
                self.dispatcher.submit(callback)

    async def settle(self) -> None:
        """Every event added so far handed to the dispatcher (later steps waited for)."""
        while self._later or self._open:
            if self._later:
                await asyncio.sleep(self.dispatcher.settings.step_ms / 1000)
            self.flush()

    def close(self) -> None:
        for handle in self._later:
            handle.cancel()
        self._later.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._open = []


def with_headers(extra: Callable[[Callback], Mapping[str, str]]) -> Signer:
    """A signer from a function that computes the signature headers of a callback."""

    def sign(callback: Callback) -> Callback:
        return replace(callback, headers={**callback.headers, **extra(callback)})

    return sign


def control_routes(find: Callable[[str], Dispatcher | None]) -> list[web.RouteDef]:
    """`/_sandbox/{sim}/callbacks`: GET what was sent (`?since=SEQ&limit=N&outcome=delivered`),
    PUT settings, DELETE back to defaults and no records, POST `.../drain` to wait for every
    callback in flight."""

    def dispatcher(request: web.Request) -> Dispatcher:
        found = find(request.match_info["sim"])
        if found is None:
            raise web.HTTPNotFound(text=f"no simulator {request.match_info['sim']!r} that calls back")
        return found

    async def get(request: web.Request) -> web.Response:
        q = request.query
        try:
            since, limit = int(q.get("since", 0)), int(q.get("limit", 1000))
        except ValueError:
            raise web.HTTPBadRequest(text="since and limit are integers") from None
        return web.json_response(dispatcher(request).describe(since=since, limit=limit, outcome=q.get("outcome")))

    async def put(request: web.Request) -> web.Response:
        d = dispatcher(request)
        try:
            d.configure(CallbackSettings.model_validate(await request.json()))
        except ValueError as e:  # pydantic's ValidationError and bad JSON are both ValueErrors
            raise web.HTTPBadRequest(text=str(e)) from None
        return web.json_response(d.describe(limit=0))

    async def delete(request: web.Request) -> web.Response:
        d = dispatcher(request)
        d.reset()
        return web.json_response(d.describe(limit=0))

    async def drain(request: web.Request) -> web.Response:
        d = dispatcher(request)
        await d.drain()
        return web.json_response(d.describe(limit=0))

    return [
        web.get("/_sandbox/{sim}/callbacks", get),
        web.put("/_sandbox/{sim}/callbacks", put),
        web.delete("/_sandbox/{sim}/callbacks", delete),
        web.post("/_sandbox/{sim}/callbacks/drain", drain),
    ]


def find_in(simulators: Mapping[str, object]) -> Callable[[str], Dispatcher | None]:
    """How the control routes find a simulator's dispatcher: its `callbacks` attribute."""

    def find(name: str) -> Dispatcher | None:
        found = getattr(simulators.get(name), "callbacks", None)
        return found if isinstance(found, Dispatcher) else None

    return find
