"""Network stand-ins for the egress tests: names the test resolves, and a listener that counts.

The listener is what proves "no bytes sent": a refused destination must not even be
connected to, so the count of accepted connections stays at zero.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from herald.config import Settings
from herald.runtime import build_runtime
from herald.sandbox.inbox import Inbox
from tests.harness import Herald, client_for


def fake_dns(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """Make each name in `names` resolve to the given address; every other name resolves as usual.

    asyncio's getaddrinfo calls `socket.getaddrinfo` when it runs, so this is the answer
    every resolver in Herald sees, as a rebinding DNS server would give it.
    """
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in names:
            host = names[name.lower().rstrip(".")]
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


class Listener:
    """A TCP server on 127.0.0.1 that answers nothing and counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Listener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@asynccontextmanager
async def herald_with(settings: Settings, **overrides: Any) -> AsyncIterator[Herald]:
    """Herald on the test's backend with some settings changed (the mode, the egress rules),
    its providers built from those settings as a deployment builds them."""
    runtime = build_runtime(settings.model_copy(update=overrides), single_process=True)
    client = await client_for(runtime, "egress")
    try:
        yield Herald(runtime, client, Inbox())
    finally:
        await client.aclose()
        await runtime.close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription(endpoint: str) -> dict[str, Any]:
    """A browser subscription to `endpoint` with well-formed keys."""
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(os.urandom(16))}}


def vapid_config() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"vapid_private_key": pem, "vapid_subject": "mailto:ops@herald.test"}
