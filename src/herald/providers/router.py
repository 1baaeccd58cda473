"""Choosing providers for a message: by channel, platform or destination country, then priority.

The router returns candidates in order; the send path tries the next one on a transient
failure, and skips any whose circuit breaker is open.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from herald.kit.channels import Channel
from herald.providers.base import Adapter
from herald.providers.breaker import Breaker
from herald.providers.messages import EmailMessage, OutboundMessage, PushMessage, SmsMessage


@dataclass(frozen=True, slots=True)
class SmsRule:
    """Numbers starting with one of `prefixes` (E.164 country codes, e.g. "+44") use `providers`."""

    prefixes: tuple[str, ...]
    providers: tuple[str, ...]


@dataclass
class Routes:
    email: tuple[str, ...] = ("smtp",)
    sms: tuple[str, ...] = ("twilio",)
    sms_rules: tuple[SmsRule, ...] = ()
    push: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"ios": ("apns",), "android": ("fcm",), "web": ("webpush",)}
    )


class Router:
    def __init__(self, adapters: Sequence[Adapter], routes: Routes) -> None:
        self.adapters = {a.name: a for a in adapters}
        self.routes = routes
        self._breakers: dict[tuple[uuid.UUID | None, str], Breaker] = {}

    def breaker(self, app_id: uuid.UUID | None, name: str) -> Breaker:
        return self._breakers.setdefault((app_id, name), Breaker())

    def _names(self, message: OutboundMessage) -> tuple[str, ...]:
        if isinstance(message, EmailMessage):
            return self.routes.email
        if isinstance(message, SmsMessage):
            for rule in self.routes.sms_rules:
                if message.to.startswith(rule.prefixes):
                    return rule.providers + tuple(p for p in self.routes.sms if p not in rule.providers)
            return self.routes.sms
        assert isinstance(message, PushMessage)
        return tuple(self.routes.push.get(message.platform, ()))

    def candidates(self, app_id: uuid.UUID, message: OutboundMessage) -> list[Adapter]:
        """Configured providers for this message, in priority order, that exist here."""
        return [self.adapters[n] for n in self._names(message) if n in self.adapters]

    def channel_of(self, name: str) -> Channel:
        return self.adapters[name].channel

    async def close(self) -> None:
        for adapter in self.adapters.values():
            await adapter.close()
