"""Building the provider-neutral message from rendered content and a destination."""

from __future__ import annotations

from herald.providers.messages import EmailMessage, OutboundMessage, PushMessage, SmsMessage
from herald.recipients.card import DeviceCard
from herald.templates.render import Rendered, RenderedEmail, RenderedPush, RenderedSms


def compose(
    key: str,
    rendered: Rendered,
    *,
    address: str | None,
    device: DeviceCard | None,
    name: str | None,
    category: str | None,
    critical: bool,
) -> OutboundMessage:
    if isinstance(rendered, RenderedEmail):
        assert address is not None
        return EmailMessage(
            key=key,
            to=address,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            to_name=name,
            category=category,
        )
    if isinstance(rendered, RenderedSms):
        assert address is not None
        return SmsMessage(key=key, to=address, text=rendered.text, category=category)
    assert isinstance(rendered, RenderedPush) and device is not None
    return PushMessage(
        key=key,
        platform=device.platform,
        token=device.token,
        title=rendered.title,
        body=rendered.body,
        data=rendered.data,
        subscription=device.subscription,
        priority="high" if critical else "normal" if category == "marketing" else "high",
        category=category,
    )
