"""Email: a subject and an html (or MJML) and/or text body, to the recipient's address, via SMTP or an API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from herald.channels.base import Destination, Meta, Recipient, Routes, Sender, SenderDeps, Target
from herald.config import RouteSettings
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.notifications.models import SkipReason
from herald.providers.messages import EmailMessage
from herald.recipients.card import ContactCard
from herald.templates.limits import EMAIL_BODY_MAX_CHARS, EMAIL_SUBJECT_MAX_CHARS, MJML_MAX_CHARS
from herald.templates.render import Fields


class EmailContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=2000)
    html: str | None = Field(default=None, max_length=512_000)
    mjml: str | None = Field(
        default=None,
        max_length=MJML_MAX_CHARS,
        description="Responsive email in MJML, instead of `html`: rendered, then compiled to HTML with its CSS inlined",
    )
    text: str | None = Field(default=None, max_length=512_000)

    @model_validator(mode="after")
    def _has_body(self) -> EmailContent:
        if self.html and self.mjml:
            raise ValueError("email content has html or mjml, not both")
        if not self.html and not self.mjml and not self.text:
            raise ValueError("email content needs html or text (or mjml instead of html)")
        return self


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str | None
    text: str | None


class EmailChannel:
    name = Channel.EMAIL
    content = EmailContent
    address_skip = SkipReason.NO_ADDRESS.value

    def destinations(self, recipient: Recipient) -> list[Destination]:
        return [Destination(recipient.email)] if recipient.email else []

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        address = address or (card.email if card else None)
        return Target(address) if address else None

    def render(self, content: dict[str, Any], fields: Fields) -> RenderedEmail:
        mjml = content.get("mjml")
        return RenderedEmail(
            subject=fields.render(content["subject"], field="email.subject", cap=EMAIL_SUBJECT_MAX_CHARS),
            html=fields.optional(content.get("html"), field="email.html", cap=EMAIL_BODY_MAX_CHARS, html=True)
            if mjml is None
            else fields.mjml(mjml, field="email.mjml"),
            text=fields.optional(content.get("text"), field="email.text", cap=EMAIL_BODY_MAX_CHARS),
        )

    def compose(self, rendered: RenderedEmail, target: Target, meta: Meta) -> EmailMessage:
        assert target.address is not None
        return EmailMessage(
            key=meta.key,
            to=target.address,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            to_name=meta.name,
            category=meta.category,
        )

    def routes(self, message: EmailMessage, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        return Routes(list(accounts), list(defaults.email))

    def sink(self, deps: SenderDeps) -> Sender | None:
        return None
