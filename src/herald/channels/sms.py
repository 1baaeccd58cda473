"""SMS: one text to the recipient's E.164 number, via Twilio or Vonage, preferring by country."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from herald.channels.base import Destination, Meta, Recipient, Routes, Sender, SenderDeps, Target
from herald.config import RouteSettings
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.notifications.models import SkipReason
from herald.providers.messages import SmsMessage
from herald.recipients.card import ContactCard
from herald.templates.limits import SMS_MAX_UNITS, check_sms
from herald.templates.render import Fields
from herald.templates.sms import Segments, segments


class SmsContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=4000)


@dataclass(frozen=True, slots=True)
class RenderedSms:
    text: str

    @property
    def segments(self) -> Segments:
        return segments(self.text)


def prefer_country(names: Sequence[tuple[str, tuple[str, ...]]], number: str) -> list[str]:
    """Names whose E.164 prefixes match `number` first, then those without prefixes."""
    matched = [n for n, prefixes in names if prefixes and number.startswith(prefixes)]
    return matched + [n for n, prefixes in names if n not in matched and not prefixes]


class SmsChannel:
    name = Channel.SMS
    content = SmsContent
    address_skip = SkipReason.NO_ADDRESS.value

    def destinations(self, recipient: Recipient) -> list[Destination]:
        return [Destination(recipient.phone)] if recipient.phone else []

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        address = address or (card.phone if card else None)
        return Target(address) if address else None

    def render(self, content: dict[str, Any], fields: Fields) -> RenderedSms:
        text = fields.render(content["text"], field="sms.text", cap=SMS_MAX_UNITS)
        check_sms(text)
        return RenderedSms(text)

    def compose(self, rendered: RenderedSms, target: Target, meta: Meta) -> SmsMessage:
        assert target.address is not None
        return SmsMessage(key=meta.key, to=target.address, text=rendered.text, category=meta.category)

    def routes(self, message: SmsMessage, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        """Accounts and providers preferred for the number's country come first."""
        ordered = list(accounts)
        if any(a.countries for a in ordered):
            names = prefer_country([(a.name, a.countries) for a in ordered], message.to)
            ordered = sorted(ordered, key=lambda a: names.index(a.name) if a.name in names else len(names))
        rules = [(p, tuple(rule.prefixes)) for rule in defaults.sms_rules for p in rule.providers]
        preferred = prefer_country(rules, message.to)
        return Routes(ordered, preferred + [p for p in defaults.sms if p not in preferred])

    def sink(self, deps: SenderDeps) -> Sender | None:
        return None
