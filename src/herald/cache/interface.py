"""The contact cache: the send path reads contacts and preferences here, not from the log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from herald.recipients.card import ContactCard

CardLoader = Callable[[uuid.UUID, str], Awaitable[ContactCard | None]]


class ContactCache(Protocol):
    async def get(self, app_id: uuid.UUID, user_id: str) -> ContactCard | None:
        """The user's card, loaded from the log on a miss; None if there is no such user."""

    async def get_many(self, keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        """Cards for a batch of users in one round trip, loading the misses."""

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        """Forget the user, so the next send sees the change just committed."""

    async def close(self) -> None: ...
