"""A test send: one version of a template (a draft, say) to one address or user, for real.

It goes through the intake like any notification (accepted, logged, counted, sent by the
workers), as inline content rendered from the chosen version, so the live version is never
involved. It is marked as a test by its category (`TEST_CATEGORY`) and has no template key,
so the template's analytics do not count it; its deliveries record the version rendered.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.channels import Channel
from herald.kit.errors import NoContent, ValidationFailed
from herald.kit.ids import uuid7
from herald.kit.uow import unit_of_work
from herald.notifications.acceptance import Intake
from herald.notifications.repository import stamp_template_version
from herald.notifications.schemas import InlineDevice, InlineRecipient, NotificationIn, NotificationOut
from herald.recipients.contacts import check_device_token
from herald.templates import service
from herald.templates.render import pick
from herald.templates.schemas import TestSendIn

TEST_CATEGORY = "herald:test-send"


def _recipient(body: TestSendIn) -> InlineRecipient | None:
    """The inline recipient `to` names (checked by the intake, as any notification's), or
    None for a stored user."""
    if (body.to is None) == (body.user_id is None):
        raise ValidationFailed("give either `to` (an address or a device token) or `user_id`", field="to")
    if body.platform is not None and body.channel != Channel.PUSH:
        raise ValidationFailed("`platform` is for a push to a device token", field="platform")
    if body.to is None:
        return None
    if body.channel == Channel.EMAIL:
        return InlineRecipient(email=body.to, locale=body.locale)
    if body.channel == Channel.SMS:
        return InlineRecipient(phone=body.to, locale=body.locale)
    if body.channel == Channel.PUSH:
        if body.platform is None:
            # A web push subscription is an object, not a token: it is registered on a user.
            raise ValidationFailed(
                "a test push to a device token needs its `platform` (ios or android); web push goes to `user_id`",
                field="platform",
            )
        token = check_device_token(body.platform, body.to, field="to")  # named as this request names it
        return InlineRecipient(device=InlineDevice(platform=body.platform, token=token), locale=body.locale)
    raise ValidationFailed(f"a test {body.channel.value} goes to a stored user: give `user_id`", field="to")


async def test_send(
    sessions: async_sessionmaker[AsyncSession], intake: Intake, app_id: uuid.UUID, key: str, body: TestSendIn
) -> NotificationOut:
    recipient = _recipient(body)
    async with unit_of_work(sessions) as uow:
        v = await service.version_of(uow, app_id, key, body.version)
        content = await service.linked_content(uow, app_id, v.content)
    channel_content = pick(content.get("channels", {}), content.get("locales", {}), body.locale, body.channel)
    if channel_content is None:
        raise NoContent(f"version {v.number} has no {body.channel.value} content", field="channel")
    req = NotificationIn(
        event_id=f"test-send:{uuid7().hex}",
        user_id=body.user_id,
        recipient=recipient,
        data=body.data if body.data is not None else content.get("sample_data") or {},
        channels=[body.channel],
        category=TEST_CATEGORY,
    )
    # Set past validation: the content is a saved version's, with its layouts copied in.
    req = req.model_copy(update={"content": {body.channel.value: channel_content}})
    [accepted] = await intake.accept(app_id, [req])
    if accepted.error is not None:
        raise accepted.error
    assert accepted.notification is not None
    async with unit_of_work(sessions) as uow:
        await stamp_template_version(uow.session, accepted.notification.id, v.number)
    out = accepted.notification
    return out.model_copy(
        update={"deliveries": [d.model_copy(update={"template_version": v.number}) for d in out.deliveries]}
    )
