"""What the HTTP simulators share: reading credentials the way the providers do, and posting
their webhooks (Twilio status callbacks, SendGrid events) without holding up the answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Mapping

import aiohttp


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The (user, password) of an `Authorization: Basic` header, or None if absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    if not header or header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


class WebhookPoster:
    """Best-effort webhook delivery in the background, as the providers do it.

    A provider answers the API call first and calls the customer back later; a webhook that
    cannot be delivered is lost, never retried into the API answer.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def post(self, url: str, *, data: bytes | Mapping[str, str], headers: Mapping[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._post(url, data, dict(headers)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, data: bytes | Mapping[str, str], headers: dict[str, str]) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
            async with self._session.post(url, data=data, headers=headers) as resp:
                await resp.read()

    async def drain(self) -> None:
        """Wait for the webhooks in flight (tests use this instead of sleeping)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
