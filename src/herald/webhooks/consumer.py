"""New delivery events become messages owed to the endpoints subscribed to them.

Run by `events.service.EventLog` inside the transaction that recorded the events, on the
connection it is given: a message exists if and only if its event committed. An event no
endpoint wants costs a dictionary lookup, no statement (`subscriptions.Subscriptions`).

Herald's kinds map to webhook types one to one, but for two: a provider's `undelivered`
(an SMS the carrier could not deliver) is `bounced`, like an email the receiving server
refused, because both are verdicts that came back after the provider accepted the message
(the payload's `kind` and `code` tell them apart, and a soft bounce by `code: "soft"`);
`failed` is Herald's own verdict that the message could not be sent at all (a permanent
failure at send time), and `dead` that its retries ran out.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.events.kinds import EventKind
from herald.events.service import Recorded
from herald.kit.clock import utcnow
from herald.kit.ids import uuid7
from herald.webhooks import repository
from herald.webhooks.schemas import WebhookType
from herald.webhooks.subscriptions import Subscriptions

TYPES: dict[str, WebhookType] = {
    EventKind.ACCEPTED: WebhookType.ACCEPTED,
    EventKind.SENT: WebhookType.SENT,
    EventKind.DELIVERED: WebhookType.DELIVERED,
    EventKind.UNDELIVERED: WebhookType.BOUNCED,
    EventKind.BOUNCED: WebhookType.BOUNCED,
    EventKind.COMPLAINED: WebhookType.COMPLAINED,
    EventKind.FAILED: WebhookType.FAILED,
    EventKind.DEAD: WebhookType.DEAD,
    EventKind.OPENED: WebhookType.OPENED,
    EventKind.CLICKED: WebhookType.CLICKED,
    EventKind.UNSUBSCRIBED: WebhookType.UNSUBSCRIBED,
}


def webhook_type(kind: str) -> WebhookType | None:
    return TYPES.get(kind)


def payload(r: Recorded, webhook_type: str, event_id: str | None) -> dict[str, Any]:
    """The body receivers get: {type, timestamp, data}, as Standard Webhooks suggests."""
    e, t = r.event, r.target
    data: dict[str, Any] = {
        "delivery_id": str(t.delivery_id),
        "notification_id": str(t.notification_id),
        "event_id": event_id,
        "kind": e.kind,
        "channel": t.channel,
        "template": t.template,
        "category": t.category,
        "provider": t.provider,
        "code": e.code,
        "user_id": t.user_id,
    }
    if e.kind == EventKind.CLICKED:
        data["url"] = e.detail  # the tracker records the link followed as the event's detail
    return {"type": webhook_type, "timestamp": e.occurred_at.isoformat().replace("+00:00", "Z"), "data": data}


class WebhookConsumer:
    """An `events.service.Consumer`: one message per new event per subscribed endpoint."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions

    async def quiet(self, keys: Collection[tuple[uuid.UUID, str]]) -> bool:
        """Whether events of these (app id, kind) pairs would owe no endpoint a message."""
        for app_id, kind in keys:
            wt = TYPES.get(kind)
            if wt is not None and await self.subscriptions.endpoints(app_id, wt):
                return False
        return True

    async def recorded(self, conn: AsyncConnection, events: Sequence[Recorded]) -> None:
        wanted: list[tuple[Recorded, WebhookType, tuple[uuid.UUID, ...]]] = []
        for r in events:
            wt = TYPES.get(r.event.kind)
            if wt is None:
                continue
            endpoints = await self.subscriptions.endpoints(r.target.app_id, wt)
            if endpoints:
                wanted.append((r, wt, endpoints))
        if not wanted:
            return
        event_ids = await repository.event_ids(conn, list({r.target.notification_id for r, _, _ in wanted}))
        now = utcnow()
        rows = []
        for r, wt, endpoints in wanted:
            body = orjson.dumps(payload(r, wt, event_ids.get(r.target.notification_id))).decode()
            for endpoint_id in endpoints:
                rows.append(
                    {
                        "id": uuid7(),
                        "app_id": r.target.app_id,
                        "endpoint_id": endpoint_id,
                        "event_type": wt,
                        "body": body,
                        "created_at": now,
                        "next_at": now,
                    }
                )
        await repository.insert_messages(conn, rows)
