"""Receiving a callback: the account it names, its signature, its events, into the log."""

from __future__ import annotations

import logging
import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.callbacks.accounts import Accounts, CallbackAccountNotFound
from herald.callbacks.receipts import RECEIVERS, Callback
from herald.events.service import EventLog
from herald.events.writer import EventWriter
from herald.kit.errors import ValidationFailed
from herald.kit.secrets import Vault

log = logging.getLogger(__name__)


class InvalidCallback(ValidationFailed):
    """The callback is signed, but its body is not what the provider sends."""

    code = "invalid_callback"


class CallbackDesk:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        deployment: dict[str, BaseModel],
        events: EventLog,
    ) -> None:
        self.accounts = Accounts(sessions, vault, deployment)
        self.writer = EventWriter(sessions, events)

    async def receive(self, kind: str, account: uuid.UUID | None, callback: Callback) -> int:
        """Verify and record one callback; how many events it carried for Herald's deliveries."""
        receiver = RECEIVERS.get(kind)
        if receiver is None:
            raise CallbackAccountNotFound(f"Herald takes no callbacks from {kind!r}; one of {sorted(RECEIVERS)}")
        found = await self.accounts.get(kind, account)
        try:
            events = receiver.events(found.config, callback)
        except ValueError as exc:
            raise InvalidCallback(f"not a {kind} callback: {exc}") from exc
        await self.writer.write(events, app_id=found.app_id)
        return len(events)
