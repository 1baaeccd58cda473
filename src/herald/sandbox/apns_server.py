"""The HTTP/2 server side of the APNs sandbox: the `h2` state machine over an asyncio protocol.

Lean on purpose: it shares the CPU with Herald during benchmarks, so a request is handled
inline when it completes (no task) unless the handler must wait (injected latency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import H2Error
from h2.settings import SettingCodes, Settings

from herald.providers.apns_transport import H2Endpoint


@dataclass(slots=True)
class H2Request:
    stream_id: int
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)


class H2ServerConnection(H2Endpoint):
    """One client connection; `handler` gets each complete request and must answer or reset it."""

    def __init__(
        self,
        handler: Callable[[H2ServerConnection, H2Request], None],
        *,
        initial_streams: int,
        on_close: Callable[[H2ServerConnection], None],
    ) -> None:
        # Requests are validated as APNs would; only our own answers skip h2's checks.
        super().__init__(client_side=False)
        self._handler = handler
        self._on_close = on_close
        self._h2.local_settings = Settings(
            client=False,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: initial_streams,
                SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
            },
        )
        self._requests: dict[int, H2Request] = {}
        self.pending = 0  # handed to the handler, not yet answered
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but it has its methods.
        self._transport = cast(asyncio.Transport, transport)
        tls = self._transport.get_extra_info("ssl_object")
        if tls is not None and tls.selected_alpn_protocol() != "h2":
            self._transport.close()  # APNs speaks HTTP/2 only
            return
        self._h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except H2Error:
            self._flush()  # h2 queued the GOAWAY that explains the protocol error
            self.abort()
            return
        for event in events:
            self._on_event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._requests.clear()
        self._on_close(self)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._requests[event.stream_id] = H2Request(event.stream_id, list(event.headers))
        elif isinstance(event, DataReceived):
            request = self._requests.get(event.stream_id)
            if request is not None:
                request.body += event.data
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            request = self._requests.pop(event.stream_id, None)
            if request is not None:
                self.pending += 1
                self._handler(self, request)
        elif isinstance(event, StreamReset):
            self._requests.pop(event.stream_id, None)
        elif isinstance(event, ConnectionTerminated) and self._transport is not None:
            self._transport.close()

    def respond(self, stream_id: int, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        """Answer one request; an answer to a stream the client already reset is dropped."""
        self.pending -= 1
        try:
            self._h2.send_headers(stream_id, [(b":status", str(status).encode()), *headers], end_stream=not body)
            if body:
                self._h2.send_data(stream_id, body, end_stream=True)
        except H2Error:
            pass  # the client reset the stream or the connection ended first
        if self.closing:
            self._flush()
            self._close_if_done()
        else:
            self._flush_soon()

    def reset(self, stream_id: int) -> None:
        """Drop one request without an answer, as a server that crashed mid-request would."""
        self.pending -= 1
        try:
            self._h2.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)
        except H2Error:
            pass  # already closed
        self._flush()
        self._close_if_done()

    def raise_stream_limit(self, streams: int) -> None:
        try:
            self._h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: streams})
        except H2Error:
            return  # the connection already ended
        self._flush()

    def shutdown(self) -> None:
        """Stop taking work and close with GOAWAY once the requests in hand are answered."""
        self.closing = True
        self._close_if_done()

    def _close_if_done(self) -> None:
        if not self.closing or self.pending > 0 or self._transport is None:
            return
        try:
            self._h2.close_connection(additional_data=b'{"reason":"Shutdown"}')
        except H2Error:
            pass  # already terminated
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
