"""The one place the API finds out who is calling: cheap for the right credentials, and
cheaper still for wrong ones.

An app calls with its key and secret (HTTP Basic); an end user with a token the app minted
(`apps.tokens`), which names the app by its key. Either way, each key's stored credentials
are read once and kept for `ttl` seconds, so checking a request, right or wrong, is an HMAC
in memory; a key that does not exist is remembered the same way. Failures are throttled
per client address, and wrong secrets per key too (`api.throttle`): past the allowance the
answer is 429 with Retry-After, and an address past its allowance gets no more reads for
keys it makes up. A key that authenticated here before is never refused for the failures
of others, and right credentials are never refused at all. An expired token is not counted
as a failure: it is genuine, from a page left open.

The cost of the cache is the delay before a change is seen: a disabled app, a rotated-out
secret or key, a deleted key or a changed list of origins still counts for up to `ttl`
seconds in each API process. A token signed with a key newer than the cached one is the
exception: it makes its key be read again, at most once a second.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.api.subjects import AppCaller, EndUser
from herald.api.throttle import FailureThrottle
from herald.apps import repository, tokens
from herald.apps.service import StoredSecrets, stored_secrets, verify
from herald.config import ApiSettings
from herald.kit.clock import utcnow
from herald.kit.errors import AuthThrottled, InvalidToken, OriginNotAllowed, TokenExpired, Unauthenticated
from herald.kit.secrets import Vault

# Longer than any key Herald issues ("hk_" + 20 hex) or secret (43 characters): anything
# longer is refused before it reaches a lookup or a hash.
MAX_KEY = 64
MAX_SECRET = 256
_MAX_CACHED = 100_000
# How stale a cached key may be before a token it cannot verify makes it be read again.
_REREAD_AFTER = 1.0
_every: weakref.WeakSet[Authenticator] = weakref.WeakSet()


class Authenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pepper: str,
        vault: Vault,
        settings: ApiSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._pepper = pepper
        self._vault = vault
        self._ttl = settings.auth_cache.total_seconds()
        self._clock = clock
        self._by_key = FailureThrottle(settings.auth_failures_per_key, 60.0, clock)
        self._by_address = FailureThrottle(settings.auth_failures_per_address, 60.0, clock)
        # Per key: when it was read, and what.
        self._stored: dict[str, tuple[float, StoredSecrets | None]] = {}
        # Keys that authenticated here: never refused for their address's failures.
        self._known: set[str] = set()
        self._origins: tuple[float, frozenset[str]] | None = None
        self._origins_lock = asyncio.Lock()
        _every.add(self)

    async def app(self, key: str, secret: str, address: str) -> AppCaller:
        """Who is calling; raises Unauthenticated, or AuthThrottled past the allowance."""
        # A NUL is in no key, and PostgreSQL refuses it in a lookup (an error, not a miss).
        if len(key) > MAX_KEY or len(secret) > MAX_SECRET or "\x00" in key:
            self._fail(key[:MAX_KEY].replace("\x00", ""), address)
        identity = verify(await self._stored_for(key, address), secret, self._pepper)
        if identity is None:
            self._fail(key, address)
        self._know(key)
        return AppCaller(identity.app_id, identity.name, key)

    async def end_user(self, token: str, address: str, origin: str | None) -> EndUser:
        """Whose token this is; raises InvalidToken (TokenExpired), AuthThrottled past the
        allowance, or OriginNotAllowed when a page of `origin` may not use the app's tokens."""
        key = tokens.issuer(token)
        if key is None or len(key) > MAX_KEY or "\x00" in key:
            self._fail_token(address)
        stored = await self._stored_for(key, address)
        checked = _check(stored, key, token)
        if (
            isinstance(checked, InvalidToken)
            and stored is not None
            and self._read_at(key) < self._clock() - _REREAD_AFTER
        ):
            self._stored.pop(key, None)  # perhaps signed with a key rotated in since it was read
            stored = await self._stored_for(key, address)
            checked = _check(stored, key, token)
        if isinstance(checked, InvalidToken):
            self._fail_token(address, checked)
        assert stored is not None  # no keys, no valid token
        if not stored.active:
            raise InvalidToken("the app is disabled")
        self._know(key)
        if origin is not None and origin not in stored.allowed_origins:
            raise OriginNotAllowed(f"the app does not allow its end users' tokens from {origin[:300]!r}")
        return EndUser(stored.app_id, key, checked.user_id, checked.expires_at)

    async def allowed_somewhere(self, origin: str) -> bool:
        """Whether some enabled app lets its end users call from `origin`: a preflight
        carries no token to tell which app it is for."""
        async with self._origins_lock:
            if self._origins is None or self._origins[0] <= self._clock():
                async with self._sessions() as session:
                    found = await repository.allowed_origins_of_enabled(session)
                self._origins = (self._clock() + self._ttl, frozenset(found))
            return origin in self._origins[1]

    async def _stored_for(self, key: str, address: str) -> StoredSecrets | None:
        hit = self._stored.get(key)
        if hit is None or hit[0] + self._ttl <= self._clock():
            # An address spending its allowance on made-up keys gets no more reads; a key
            # that has authenticated here before is still read (once per `ttl`), so its app
            # is not refused for sharing an address with someone guessing.
            if key not in self._known:
                self._refuse_if_throttled(None, address)
            async with self._sessions() as session:
                hit = (self._clock(), await stored_secrets(session, key, self._vault))
            if len(self._stored) >= _MAX_CACHED:
                self._stored.clear()
            self._stored[key] = hit
        return hit[1]

    def _read_at(self, key: str) -> float:
        hit = self._stored.get(key)
        return hit[0] if hit is not None else -math.inf

    def _know(self, key: str) -> None:
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known.add(key)

    def _refuse_if_throttled(self, key: str | None, address: str) -> None:
        by_key = self._by_key.wait(key) if key is not None else None
        waits = [w for w in (by_key, self._by_address.wait(address)) if w is not None]
        if waits:
            raise AuthThrottled(retry_after=math.ceil(max(waits)))

    def _fail(self, key: str, address: str) -> NoReturn:
        self._refuse_if_throttled(key, address)
        self._by_key.failed(key)
        self._by_address.failed(address)
        raise Unauthenticated()

    def _fail_token(self, address: str, error: InvalidToken | None = None) -> NoReturn:
        self._refuse_if_throttled(None, address)
        self._by_address.failed(address)
        raise error or InvalidToken()

    def forget_app(self, key: str) -> None:
        """Read the app's credentials and origins again on their next use (after a change here)."""
        self._stored.pop(key, None)
        self._origins = None

    def forget(self) -> None:
        self._stored.clear()
        self._known.clear()
        self._origins = None
        self._by_key.clear()
        self._by_address.clear()


def _check(stored: StoredSecrets | None, key: str, token: str) -> tokens.Claims | InvalidToken:
    """The token's claims, or why it is not the app's; TokenExpired is raised, never counted."""
    try:
        return tokens.verify(token, key, stored.token_keys(utcnow()) if stored is not None else [])
    except TokenExpired:
        raise
    except InvalidToken as exc:
        return exc


def forget_everywhere() -> None:
    """Drop every process-local verification and failure count (tests; a changed app)."""
    for authenticator in list(_every):
        authenticator.forget()
