"""A channel is one module and one registration: this one, a throwaway fax channel, is
routed, rendered and recorded by the send path with no edit anywhere else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from herald.channels import registry
from herald.channels.base import Destination, Meta, Recipient, Routes, Sender, SenderDeps, Sent, Target
from herald.config import RouteSettings
from herald.delivery.results import AttemptRecord
from herald.integrations.service import Account
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.providers.outcome import Delivered
from herald.recipients.card import ContactCard
from herald.templates.render import Fields
from tests.harness import Herald

FAX = "fax"
SENT: list[FaxMessage] = []


class FaxContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cover: str = Field(max_length=200)


@dataclass(frozen=True, slots=True)
class FaxMessage:
    key: str
    to: str
    cover: str


class FaxMachine:
    async def send(self, app_id: uuid.UUID, message: Any, unknowns: int) -> Sent:
        SENT.append(message)
        call = AttemptRecord("fax-machine", "delivered", None, None, utcnow(), 0)
        return Sent([call], Delivered(f"fax-{len(SENT)}"), "fax-machine")

    async def close(self) -> None:
        return None


class FaxChannel:
    """To the number in the user's `fax` attribute."""

    content = FaxContent
    address_skip = "no_address"

    def __init__(self) -> None:
        self.name = Channel.register(FAX)  # registered with the channel, not on import

    def destinations(self, recipient: Recipient) -> list[Destination]:
        number = recipient.attributes.get("fax")
        return [Destination(number)] if number else []

    def target(self, address: str | None, device_id: uuid.UUID | None, card: ContactCard | None) -> Target | None:
        number = address or (card.attributes.get("fax") if card else None)
        return Target(number) if number else None

    def render(self, content: dict[str, Any], fields: Fields) -> str:
        return fields.render(content["cover"], field="fax.cover", cap=200)

    def compose(self, rendered: str, target: Target, meta: Meta) -> FaxMessage:
        assert target.address is not None
        return FaxMessage(meta.key, target.address, rendered)

    def routes(self, message: Any, defaults: RouteSettings, accounts: Sequence[Account]) -> Routes:
        return Routes([], [])

    def sink(self, deps: SenderDeps) -> Sender | None:
        return FaxMachine()


@pytest.fixture
def fax() -> Iterator[None]:
    registry.register(FaxChannel())
    SENT.clear()
    yield
    registry.unregister(FAX)


@pytest.mark.usefixtures("fax")
async def test_a_channel_from_one_module_is_routed_rendered_and_recorded(herald: Herald) -> None:
    await herald.user(attributes={"fax": "+1 555 0100"})
    await herald.template("faxed", {"channels": {FAX: {"cover": "Order {{ order_id }} for {{ user.name }}"}}})
    r = await herald.notify(template="faxed", channels=[FAX], data={"order_id": 7})
    assert r.status_code == 202, r.text
    await herald.drain(channels=[Channel(FAX)])

    key = uuid.UUID(r.json()["deliveries"][0]["id"]).hex
    assert [FaxMessage(key, "+1 555 0100", "Order 7 for Ada Lovelace")] == SENT
    [d] = (await herald.notification(r.json()["id"]))["deliveries"]
    assert (d["channel"], d["state"]) == (FAX, "delivered")
    assert (d["provider"], d["provider_message_id"]) == ("fax-machine", "fax-1")
    assert [(a["provider"], a["outcome"]) for a in d["attempt_log"]] == [("fax-machine", "delivered")]


@pytest.mark.usefixtures("fax")
async def test_its_content_is_validated_by_its_own_model_and_its_name_is_known(herald: Herald) -> None:
    bad = await herald.client.put("/v1/templates/faxed", json={"channels": {FAX: {"cover": "x", "pages": 3}}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == f"channels.{FAX}.pages"
    notification = (await herald.client.get("/openapi.json")).json()["components"]["schemas"]["NotificationIn"]
    assert FAX in notification["properties"]["channels"]["anyOf"][0]["items"]["enum"]


async def test_an_unregistered_channel_is_refused_everywhere(herald: Herald) -> None:
    assert FAX not in Channel.names()
    template = await herald.client.put("/v1/templates/faxed", json={"channels": {FAX: {"cover": "x"}}})
    assert template.status_code == 422 and template.json()["error"]["field"] == f"channels.{FAX}"
    notify = await herald.notify(channels=[FAX])
    assert notify.status_code == 422 and notify.json()["error"]["field"] == "channels.0"
