"""Authenticating apps on the API: cheap for the right secret, and cheaper still for a wrong one.

Each key's stored secrets are read once and kept for `ttl` seconds, so verifying a request,
right or wrong, is an HMAC in memory; a key that does not exist is remembered the same way.
Failures are throttled per key and per client address (`api.throttle`): past the allowance
the answer is 429 with Retry-After, and an address past its allowance gets no more reads
for keys it makes up. A key that authenticated here before is never refused for the
failures of others.

The cost of the cache is the delay before a change is seen: a disabled app, a rotated-out
secret or a deleted key still authenticates for up to `ttl` seconds in each API process.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.api.throttle import FailureThrottle
from herald.apps.service import AppIdentity, StoredSecrets, stored_secrets, verify
from herald.config import ApiSettings
from herald.kit.errors import AuthThrottled, Unauthenticated

# Longer than any key Herald issues ("hk_" + 20 hex) or secret (43 characters): anything
# longer is refused before it reaches a lookup or a hash.
MAX_KEY = 64
MAX_SECRET = 256
_MAX_CACHED = 100_000
_every: weakref.WeakSet[Authenticator] = weakref.WeakSet()


class Authenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pepper: str,
        settings: ApiSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._pepper = pepper
        self._ttl = settings.auth_cache.total_seconds()
        self._clock = clock
        self._by_key = FailureThrottle(settings.auth_failures_per_key, 60.0, clock)
        self._by_address = FailureThrottle(settings.auth_failures_per_address, 60.0, clock)
        self._stored: dict[str, tuple[float, StoredSecrets | None]] = {}
        # Keys that authenticated here: never refused for their address's failures.
        self._known: set[str] = set()
        _every.add(self)

    async def app(self, key: str, secret: str, address: str) -> AppIdentity:
        """Who is calling; raises Unauthenticated, or AuthThrottled past the allowance."""
        # A NUL is in no key, and PostgreSQL refuses it in a lookup (an error, not a miss).
        if len(key) > MAX_KEY or len(secret) > MAX_SECRET or "\x00" in key:
            return self._fail(key[:MAX_KEY].replace("\x00", ""), address)
        hit = self._stored.get(key)
        if hit is None or hit[0] <= self._clock():
            # An address spending its allowance on made-up keys gets no more reads; a key
            # that has authenticated here before is still read (once per `ttl`), so its app
            # is not refused for sharing an address with someone guessing.
            if key not in self._known:
                self._refuse_if_throttled(None, address)
            hit = (self._clock() + self._ttl, await self._load(key))
            if len(self._stored) >= _MAX_CACHED:
                self._stored.clear()
            self._stored[key] = hit
        identity = verify(hit[1], secret, self._pepper)
        if identity is None:
            return self._fail(key, address)
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known.add(key)
        return identity

    async def _load(self, key: str) -> StoredSecrets | None:
        async with self._sessions() as session:
            return await stored_secrets(session, key)

    def _refuse_if_throttled(self, key: str | None, address: str) -> None:
        by_key = self._by_key.wait(key) if key is not None else None
        waits = [w for w in (by_key, self._by_address.wait(address)) if w is not None]
        if waits:
            raise AuthThrottled(retry_after=math.ceil(max(waits)))

    def _fail(self, key: str, address: str) -> AppIdentity:
        self._refuse_if_throttled(key, address)
        self._by_key.failed(key)
        self._by_address.failed(address)
        raise Unauthenticated()

    def forget(self) -> None:
        self._stored.clear()
        self._known.clear()
        self._by_key.clear()
        self._by_address.clear()


def forget_everywhere() -> None:
    """Drop every process-local verification and failure count (tests; a changed app)."""
    for authenticator in list(_every):
        authenticator.forget()
