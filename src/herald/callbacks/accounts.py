"""Which provider account a callback speaks for, and so which credentials verify it.

A callback URL names a provider kind and, for an app's own account, that integration's id:
`/v1/callbacks/twilio` is the deployment's Twilio account (HERALD_PROVIDERS, or the sandbox's), and
`/v1/callbacks/twilio/<integration id>` an app's, which may only speak for that app's
deliveries. Integration ids are random UUIDv7s that are never shown to anyone but the app,
but they are not the secret: the provider's signature is.

Providers post receipts by the thousand: an account's opened credentials are kept for a few
seconds per process (an integration changed or deleted is seen within that time).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.integrations.models import Integration
from herald.kit.errors import NotFound
from herald.kit.secrets import Vault
from herald.providers.registry import KINDS, parse_config

_TTL = 5.0


class CallbackAccountNotFound(NotFound):
    """No provider account of that kind answers to this callback URL."""

    code = "callback_account_not_found"


@dataclass(frozen=True, slots=True)
class CallbackAccount:
    kind: str
    config: BaseModel
    # The app whose account this is; None for the deployment's own (any app's deliveries).
    app_id: uuid.UUID | None


class Accounts:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], vault: Vault, deployment: dict[str, BaseModel]
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._deployment = deployment
        self._cache: dict[tuple[str, uuid.UUID | None], tuple[float, CallbackAccount | None]] = {}

    async def get(self, kind: str, account: uuid.UUID | None) -> CallbackAccount:
        key = (kind, account)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            found = hit[1]
        else:
            found = await self._load(kind, account)
            if len(self._cache) > 10_000:  # made-up ids must not grow it without bound
                self._cache.clear()
            self._cache[key] = (now + _TTL, found)
        if found is None:
            raise CallbackAccountNotFound(f"no {kind} account answers to this callback URL")
        return found

    async def _load(self, kind: str, account: uuid.UUID | None) -> CallbackAccount | None:
        if kind not in KINDS:
            return None
        if account is None:
            config = self._deployment.get(kind)
            return None if config is None else CallbackAccount(kind, config, None)
        async with self._sessions() as session:
            row = await session.scalar(select(Integration).where(Integration.id == account, Integration.kind == kind))
        if row is None:
            return None
        try:
            config = parse_config(kind, orjson.loads(self._vault.open(row.sealed_config)))
        except (ValidationError, ValueError):
            return None
        return CallbackAccount(kind, config, row.app_id)
