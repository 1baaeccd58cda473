"""Choosing providers for a message: the app's own accounts, else the deployment's defaults.

The message's channel decides which of the app's accounts take it and in what order (by
priority; SMS by the number's country first; push by the device's platform) and which of the
deployment's providers serve it (`channels.*.routes`). The send path tries the next
candidate on a transient failure and skips any whose circuit breaker is open. An account the
egress rules refuse is passed over for the app's others, and fails the send only when it is
all there is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from herald.config import BreakerSettings, RouteSettings
from herald.integrations.service import Account
from herald.kit.egress import EgressPolicy
from herald.providers.base import Adapter
from herald.providers.breaker import Breaker
from herald.providers.registry import Refused, build_account

if TYPE_CHECKING:
    from herald.channels.base import ChannelSpec

AccountLoader = Callable[[uuid.UUID], Awaitable[list[Account]]]
_ACCOUNTS_TTL = 5.0


class Router:
    def __init__(
        self,
        adapters: Sequence[Adapter],
        routes: RouteSettings,
        accounts: AccountLoader | None = None,
        breaker: BreakerSettings | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.breaker_settings = breaker or BreakerSettings()
        self.egress = egress or EgressPolicy()
        self.clock: Callable[[], float] = time.monotonic
        self.adapters = {a.name: a for a in adapters}
        self.routes = routes
        self._load_accounts = accounts
        self._accounts: dict[uuid.UUID, tuple[float, list[Account]]] = {}
        self._loading: dict[uuid.UUID, asyncio.Lock] = {}
        self._built: dict[uuid.UUID, tuple[datetime, Adapter]] = {}
        self._breakers: dict[tuple[uuid.UUID | None, str], Breaker] = {}

    def breaker(self, app_id: uuid.UUID | None, name: str) -> Breaker:
        key = (app_id, name)
        if key not in self._breakers:
            b = self.breaker_settings
            self._breakers[key] = Breaker(
                window=b.window,
                min_calls=b.min_calls,
                failure_ratio=b.failure_ratio,
                cooldown=b.cooldown.total_seconds(),
                clock=lambda: self.clock(),
            )
        return self._breakers[key]

    def breakers(self) -> list[tuple[uuid.UUID | None, str, Breaker]]:
        """Every breaker this process holds: (the app of an app's own account, else None; the
        provider's name; the breaker)."""
        return [(app_id, name, b) for (app_id, name), b in list(self._breakers.items())]

    def breaker_for(self, app_id: uuid.UUID, adapter: Adapter) -> Breaker:
        """A deployment-wide provider's health is shared by every app; an app's own account
        has a breaker of its own."""
        shared = self.adapters.get(adapter.name) is adapter
        return self.breaker(None if shared else app_id, adapter.name)

    def forget(self, app_id: uuid.UUID) -> None:
        """Drop the app's cached accounts after an integration changed."""
        self._accounts.pop(app_id, None)

    async def _app_accounts(self, app_id: uuid.UUID) -> list[Account]:
        if self._load_accounts is None:
            return []
        hit = self._accounts.get(app_id)
        if hit is not None and hit[0] >= time.monotonic():
            return hit[1]
        # One load per app at a time: hundreds of in-flight sends missing together must not
        # each take a database connection (they would starve the pool).
        lock = self._loading.setdefault(app_id, asyncio.Lock())
        async with lock:
            hit = self._accounts.get(app_id)
            if hit is None or hit[0] < time.monotonic():
                hit = (time.monotonic() + _ACCOUNTS_TTL, await self._load_accounts(app_id))
                self._accounts[app_id] = hit
        return hit[1]

    def _adapter_for(self, account: Account) -> Adapter:
        built = self._built.get(account.id)
        if built is None or built[0] != account.updated_at:
            adapter = build_account(account.kind, account.config, name=account.name, egress=self.egress)
            built = (account.updated_at, adapter)
            self._built[account.id] = built
        return built[1]

    async def candidates(self, app_id: uuid.UUID, message: Any, channel: ChannelSpec) -> list[Adapter]:
        """Providers for this message, in the order to try them: the app's own accounts that
        its channel routes it to, else the deployment's."""
        accounts = [a for a in await self._app_accounts(app_id) if a.channel == channel.name]
        routes = channel.routes(message, self.routes, accounts)
        if routes.accounts:
            adapters = [self._adapter_for(a) for a in routes.accounts]
            return [a for a in adapters if not isinstance(a, Refused)] or adapters[:1]
        return [self.adapters[n] for n in routes.defaults if n in self.adapters]

    async def close(self) -> None:
        for adapter in self.adapters.values():
            await adapter.close()
        for _, adapter in self._built.values():
            await adapter.close()
