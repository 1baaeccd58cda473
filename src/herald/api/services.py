"""What the API's routes use, and nothing more: the API never sees the runtime.

Importing the API must not import the workers or the send path: `herald api` processes run
none of them, and a route that reached for a worker would be a layering mistake that only
shows in production. `runtime.Runtime.api_services` builds this from the wiring.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.cache.interface import ContactCache
from herald.config import Settings
from herald.events.service import EventLog
from herald.feed.events import FeedEvents
from herald.kit.egress import EgressPolicy
from herald.kit.secrets import Vault
from herald.monitoring.service import Monitor
from herald.notifications.acceptance import Intake
from herald.queue.outbox import Outbox
from herald.queue.transport import Broker
from herald.tracking.service import TrackingService


@dataclass(frozen=True, slots=True)
class ApiServices:
    settings: Settings
    # Units of work for every read and write but the intake's.
    sessions: async_sessionmaker[AsyncSession]
    intake: Intake
    # Invalidated after a change to a user, a device or a preference.
    cache: ContactCache
    # Drops an app's cached provider accounts after a change to its integrations.
    forget_accounts: Callable[[uuid.UUID], None]
    vault: Vault
    # The key app secrets are hashed with.
    pepper: str
    egress: EgressPolicy
    # Where replayed dead letters are announced.
    broker: Broker
    outbox: Outbox | None
    # Where a change to a user's feed is announced to its live streams.
    feed_events: FeedEvents
    # Tracking tokens, the delivery event log, and the buffer of opens and clicks.
    tracking: TrackingService
    # Forgets this process's snapshot of webhook subscriptions after an app changes its endpoints.
    forget_webhooks: Callable[[uuid.UUID], None]
    # Where provider callbacks and engagement are recorded.
    events: EventLog = field(default_factory=EventLog)
    # The deployment's own provider accounts by kind: their callbacks verify with them.
    provider_configs: dict[str, BaseModel] = field(default_factory=dict)
    # Queue depth, provider health and throughput for the console's operator page.
    monitor: Monitor | None = None
