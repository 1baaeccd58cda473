"""A delivery with nowhere to go (no address, a retired device, a suppressed address, a
deleted user) is skipped with that reason, as prepare found it."""

from __future__ import annotations

from herald.delivery.sending import Sending, Stop


class Reachable:
    async def __call__(self, s: Sending) -> Stop | None:
        return s.unreachable
