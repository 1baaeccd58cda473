"""Every model, imported once so that the metadata (and Alembic) sees the whole schema."""

from herald.analytics.models import (
    DailyLevel,
    DailyRollup,
    HourlyLevel,
    HourlyRollup,
    MonthlyLevel,
    MonthlyRollup,
    PendingIncrement,
)
from herald.apps.models import App
from herald.console.models import ConsoleLoginThrottle, ConsoleMembership, ConsoleSession, ConsoleUser
from herald.events.models import DeliveryEvent, Engagement
from herald.feed.models import FeedItem
from herald.integrations.models import Integration
from herald.kit.db import Base
from herald.monitoring.models import ChannelMinute, ProviderBeat
from herald.notifications.models import Attempt, Delivery, Notification
from herald.preferences.models import Preference
from herald.queue.models import OutboxEntry
from herald.recipients.models import Device, Suppression, User
from herald.templates.models import Layout, Template, Version
from herald.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

__all__ = [
    "App",
    "Attempt",
    "Base",
    "ChannelMinute",
    "ConsoleLoginThrottle",
    "ConsoleMembership",
    "ConsoleSession",
    "ConsoleUser",
    "DailyLevel",
    "DailyRollup",
    "Delivery",
    "DeliveryEvent",
    "Device",
    "Engagement",
    "FeedItem",
    "HourlyLevel",
    "HourlyRollup",
    "Integration",
    "Layout",
    "MonthlyLevel",
    "MonthlyRollup",
    "Notification",
    "OutboxEntry",
    "PendingIncrement",
    "Preference",
    "ProviderBeat",
    "Suppression",
    "Template",
    "User",
    "Version",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
