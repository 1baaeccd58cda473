"""HTTP/2 over TLS for APNs: the `h2` state machine driven over long-lived asyncio connections.

APNs wants few connections carrying many concurrent streams, not a connection per request,
so each connection multiplexes up to the server's SETTINGS_MAX_CONCURRENT_STREAMS (one
before the first authenticated request, commonly 1000 after). A request that finds every
stream busy waits for one to free up. Failures are split by what the server can have seen:
`NotSent` (safe to send again), `Unanswered` (it may have been delivered), `ConnectFailed`.
The pool of such connections and the TLS context live with the adapter (providers/apns.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes
from hpack import Encoder, HeaderTuple, NeverIndexedHeaderTuple

Headers = Sequence[tuple[bytes, bytes]]


class ConnectFailed(Exception):
    """No connection could be opened: nothing was sent."""


class NotSent(Exception):
    """The request never reached the server (or the server refused the stream unprocessed)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Unanswered(Exception):
    """The request went out but no answer came back: it may have been delivered."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class H2Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Stream:
    done: asyncio.Future[None]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


class _StreamSlots:
    """A semaphore whose size the server sets (MAX_CONCURRENT_STREAMS) and may change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._failure: NotSent | None = None

    async def acquire(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.used < self.limit and not self._waiters:
            self.used += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # the slot was handed over just as we gave up
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.used -= 1
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def fail(self, exc: NotSent) -> None:
        self._failure = exc
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)

    def _wake(self) -> None:
        while self._waiters and self.used < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.used += 1
                waiter.set_result(None)


class _PlainEncoder(Encoder):
    """HPACK without Huffman coding of literals (RFC 7541 makes it optional per literal).

    hpack's Huffman coder is pure Python, byte by byte, and every request carries literals
    that cannot be indexed (the device path, apns-id, the collapse id): it was a fifth of an
    APNs send's client CPU, to save a few dozen bytes per request.
    """

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


def unindexed(name: bytes, value: bytes) -> HeaderTuple:
    """A header whose value is new on every request: kept out of the HPACK dynamic table, so
    it neither evicts the values that do repeat nor lengthens every later table search."""
    return NeverIndexedHeaderTuple(name, value)


class H2Endpoint(asyncio.Protocol):
    """What both ends of Herald's HTTP/2 (this client, the sandbox's APNs) share: an h2 state
    machine for headers built here, and writes that can wait for the end of the loop turn."""

    def __init__(self, *, client_side: bool) -> None:
        self._h2 = H2Connection(
            H2Configuration(
                client_side=client_side,
                header_encoding=None,
                # Our headers are built lowercase and well-formed, so h2's per-header checks
                # are skipped (a large share of a send's CPU). Unnormalised, a repeated value
                # (the bearer token) is HPACK-indexed once instead of re-encoded every time.
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self._h2.encoder = _PlainEncoder()
        # Made inside the loop that drives it; kept, because on Python 3.11 every
        # get_running_loop() is a getpid() system call, several per request otherwise.
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._flush_pending = False

    def _flush_soon(self) -> None:
        """Write at the end of this loop iteration: the frames produced together (the requests
        a worker starts, the answers a server gives) leave in one write and one TLS record."""
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


class H2ClientConnection(H2Endpoint):
    """One TLS connection, many concurrent request streams."""

    def __init__(self, authority: bytes) -> None:
        super().__init__(client_side=True)
        self._authority = authority
        self._streams: dict[int, _Stream] = {}
        # Until the server's first SETTINGS arrives its stream limit is unknown; h2 assumes
        # "unlimited", which would overrun a server that allows one stream to start with.
        self._slots = _StreamSlots(limit=1)
        self._flow_waiters: list[asyncio.Future[None]] = []
        self.ready: asyncio.Future[None] = self._loop.create_future()
        self.closed = False
        self.goaway = False

    @property
    def usable(self) -> bool:
        return not (self.closed or self.goaway)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but it has its methods.
        self._transport = cast(asyncio.Transport, transport)
        tls = self._transport.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() != "h2":
            self._fail_ready(ConnectFailed("the server did not negotiate h2 over ALPN"))
            self._transport.close()
            return
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except H2Error as exc:
            self._flush()
            self._lost(f"protocol error: {exc}")
            return
        for event in events:
            self._on_event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(str(exc) if exc else "closed by the server")

    # requests

    async def request(self, headers: Headers, body: bytes, timeout: float) -> H2Response:
        """One exchange on its own stream, waiting for a free stream if all are busy."""
        deadline = self._loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise NotSent("timeout") from None
        stream_id: int | None = None
        try:
            stream_id = self._open(headers)
            async with asyncio.timeout_at(deadline):
                await self._send_body(stream_id, body)
                await self._streams[stream_id].done
            stream = self._streams[stream_id]
            return H2Response(stream.status, stream.headers, bytes(stream.body))
        except TimeoutError:
            self._reset(stream_id)
            raise Unanswered("timeout", "no answer before the timeout") from None
        except H2Error as exc:
            self._reset(stream_id)
            raise Unanswered("protocol_error", str(exc)) from exc
        except asyncio.CancelledError:
            self._reset(stream_id)
            raise
        finally:
            if stream_id is not None:
                self._streams.pop(stream_id, None)
            self._slots.release()

    def _open(self, headers: Headers) -> int:
        if not self.usable:
            raise NotSent("connection_closed")
        request = [(b":authority", self._authority), (b":scheme", b"https"), *headers]
        try:
            stream_id: int = self._h2.get_next_available_stream_id()
            self._h2.send_headers(stream_id, request)
        except H2Error as exc:
            raise NotSent("stream_unavailable") from exc
        self._streams[stream_id] = _Stream(self._loop.create_future())
        return stream_id

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        done = self._streams[stream_id].done
        while not done.done():  # a reset or GOAWAY ends the stream while we wait for window
            window = self._h2.local_flow_control_window(stream_id)
            size = max(0, min(window, self._h2.max_outbound_frame_size, len(view)))
            if size > 0 or not view:
                last = size == len(view)
                self._h2.send_data(stream_id, bytes(view[:size]), end_stream=last)
                self._flush_soon()
                if last:
                    return
                view = view[size:]
            else:
                self._flush()  # the HEADERS frame must go out even while the body waits
                await self._window_opened()

    async def _window_opened(self) -> None:
        waiter = self._loop.create_future()
        self._flow_waiters.append(waiter)
        await waiter

    def _reset(self, stream_id: int | None) -> None:
        if stream_id is None or self.closed:
            return
        try:
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
            self._flush()
        except H2Error:
            pass  # already closed on the h2 side: nothing to cancel

    # events

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            self._on_headers(event)
        elif isinstance(event, DataReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            self._finish(event.stream_id, None)
        elif isinstance(event, StreamReset):
            refused = event.error_code == ErrorCodes.REFUSED_STREAM
            self._finish(
                event.stream_id,
                NotSent("refused_stream")
                if refused
                else Unanswered("stream_reset", f"RST_STREAM {event.error_code!r}"),
            )
        elif isinstance(event, WindowUpdated):
            self._wake_flow()
        elif isinstance(event, RemoteSettingsChanged):
            self._on_settings(event)
        elif isinstance(event, ConnectionTerminated):
            self._on_goaway(event)

    def _on_headers(self, event: ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        for name, value in event.headers:
            if name == b":status":
                stream.status = int(value)
            else:
                stream.headers[name.decode("ascii", "replace")] = value.decode("utf-8", "replace")

    def _on_settings(self, event: RemoteSettingsChanged) -> None:
        limit = event.changed_settings.get(SettingCodes.MAX_CONCURRENT_STREAMS)
        if limit is not None:
            self._slots.set_limit(limit.new_value)
        if SettingCodes.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._wake_flow()
        if not self.ready.done():
            self.ready.set_result(None)

    def _on_goaway(self, event: ConnectionTerminated) -> None:
        """Streams above last_stream_id were never processed; h2 can read nothing after GOAWAY."""
        self.goaway = True
        last = event.last_stream_id or 0
        detail = f"GOAWAY {event.error_code!r} {(event.additional_data or b'').decode('utf-8', 'replace')}"
        for stream_id in list(self._streams):
            self._finish(stream_id, NotSent("goaway") if stream_id > last else Unanswered("goaway", detail.strip()))
        self._slots.fail(NotSent("goaway"))
        self._fail_flow(Unanswered("goaway", detail.strip()))
        self._fail_ready(ConnectFailed(detail))
        if self._transport is not None:
            self._transport.close()

    def _finish(self, stream_id: int, exc: Exception | None) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.done.done():
            return
        if exc is None:
            stream.done.set_result(None)
        else:
            stream.done.set_exception(exc)

    def _wake_flow(self) -> None:
        waiters, self._flow_waiters = self._flow_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _fail_flow(self, exc: Unanswered) -> None:
        waiters, self._flow_waiters = self._flow_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)

    def _lost(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for stream_id in list(self._streams):
            self._finish(stream_id, Unanswered("connection_lost", reason))
        self._slots.fail(NotSent("connection_lost"))
        self._fail_flow(Unanswered("connection_lost", reason))
        self._fail_ready(ConnectFailed(reason))
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    def _fail_ready(self, exc: ConnectFailed) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved here so an unawaited failure is not logged

    def close(self) -> None:
        """Say goodbye with GOAWAY; streams still in flight end as connection_lost."""
        if self.closed:
            return
        try:
            self._h2.close_connection()
            self._flush()
        except H2Error:
            pass  # the connection already ended on the h2 side
        if self._transport is not None:
            self._transport.close()
        self._lost("closed by the client")
