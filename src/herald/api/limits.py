"""Hard bounds on a request's headers and body, enforced before any route sees it.

The body is read here, up to the limit, before the application runs: a body that declares
no Content-Length (chunked) is measured as it arrives and refused the moment it passes the
limit, so it is never buffered whole. Any route would have buffered the whole body anyway
(FastAPI reads it before validating), so reading it here first costs nothing more.

Headers are already parsed by the server when they reach an ASGI app; bounding them here
still keeps a request with thousands of fields or a huge cookie away from the routes.
"""

from __future__ import annotations

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api.errors import error_body, status_for
from herald.kit.errors import HeadersTooLarge, HeraldError, PayloadTooLarge

# How long a refused body may keep arriving after the 413: long enough for a client on a fast
# link to finish sending what it had started, not long enough to hold a task for a slow one.
_DRAIN_SECONDS = 2.0


class RequestLimits:
    """ASGI middleware: 431 past the header limits, 413 past the body limit, declared or not."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_header_count: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        named = dict(headers)
        # A client waiting for "100 Continue" sends no body until told to: nothing to drain.
        unread = None if named.get(b"expect", b"").lower() == b"100-continue" else receive
        if len(headers) > self.max_header_count or sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes:
            limits = f"at most {self.max_header_count} header fields and {self.max_header_bytes} bytes of headers"
            await self._reject(send, HeadersTooLarge(limits), unread)
            return
        too_large = PayloadTooLarge(f"the request body exceeds {self.max_body_bytes} bytes")
        declared = named.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject(send, too_large, unread)
            return
        first = await self._read_body(receive)
        if first is None:
            await self._reject(send, too_large, receive)
            return
        if first["type"] == "http.disconnect":
            return
        await self.app(scope, _replay(first, receive), send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect that cut it short); None past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _reject(self, send: Send, error: HeraldError, unread: Receive | None = None) -> None:
        """Answer `error`; then, if the client may still be sending a body, drain it from `unread`."""
        body = orjson.dumps(error_body(error.code, error.message))
        # What is left of the request is not read (beyond the drain): the connection cannot be reused.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status_for(error), "headers": headers})
        # The whole answer is written before the drain, but completed only after it: the server
        # closes the connection the moment a response completes.
        await send({"type": "http.response.body", "body": body, "more_body": unread is not None})
        if unread is not None:
            await self._drain(unread)
            await send({"type": "http.response.body", "body": b""})

    async def _drain(self, receive: Receive) -> None:
        """Read and drop what the client is still sending, within bounds.

        Closing a socket with unread data in it makes the kernel answer with a reset, which
        can destroy the 413 before a client that writes its whole body first has read it.
        """
        left = 2 * self.max_body_bytes  # a refused body costs at most three times the limit to read
        with anyio.move_on_after(_DRAIN_SECONDS):
            while left > 0:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                left -= len(message.get("body", b""))


def _replay(first: Message, receive: Receive) -> Receive:
    """The buffered body once, then the server's own messages (a disconnect, for a streaming answer)."""
    pending: list[Message] = [first]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
