"""The contact cache: the send path reads contacts and preferences here, not from the log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from herald.recipients.card import ContactCard

CardKey = tuple[uuid.UUID, str]  # (app id, the app's user id)
# Loads many cards from the log at once: a cold cache (a restart, or users seen once a day)
# must cost a few queries per claimed batch, not a few per delivery.
CardLoader = Callable[[list[CardKey]], Awaitable[dict[CardKey, ContactCard | None]]]


class ContactCache(Protocol):
    async def get(self, app_id: uuid.UUID, user_id: str) -> ContactCard | None:
        """The user's card, loaded from the log on a miss; None if there is no such user."""

    async def get_many(self, keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], ContactCard | None]:
        """Cards for a batch of users in one round trip, loading the misses."""

    async def invalidate(self, app_id: uuid.UUID, user_id: str) -> None:
        """Forget the user, so the next send sees the change just committed."""

    async def close(self) -> None: ...
