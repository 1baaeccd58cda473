"""Every channel Herald delivers on: adding one is a module and a line here.

The registry is what the rest of Herald asks about a channel (its content's schema, its
destinations, its rendering, its message, its sender); a channel that is not registered
does not exist for it. `ChannelContents` is the per-channel content of a template or an
inline notification, validated by each channel's own content model.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from herald.channels.base import ChannelSpec
from herald.channels.email import EmailChannel
from herald.channels.in_app import InAppChannel
from herald.channels.push import PushChannel
from herald.channels.sms import SmsChannel
from herald.kit.channels import Channel

CHANNELS: dict[str, ChannelSpec] = {}


def register(spec: ChannelSpec) -> ChannelSpec:
    """Make `spec` a channel: its name is valid everywhere from now on."""
    Channel.register(spec.name)
    CHANNELS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    CHANNELS.pop(name, None)
    Channel.unregister(name)


def spec(channel: str) -> ChannelSpec:
    """The channel's definition; KeyError for a name that is not registered."""
    return CHANNELS[channel]


for _spec in (EmailChannel(), SmsChannel(), PushChannel(), InAppChannel()):
    register(_spec)


def _contents(value: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each channel's content through that channel's model, errors located under its name."""
    out: dict[str, dict[str, Any]] = {}
    errors: list[InitErrorDetails] = []
    for name, content in value.items():
        found = CHANNELS.get(name)
        if found is None:
            known = ", ".join(CHANNELS)
            unknown = PydanticCustomError("unknown_channel", "unknown channel; one of {known}", {"known": known})
            errors.append({"type": unknown, "loc": (name,), "input": content})
            continue
        try:
            out[name] = found.content.model_validate(content).model_dump(exclude_none=True)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                detail: InitErrorDetails = {"type": e["type"], "loc": (name, *e["loc"]), "input": e["input"]}
                if "ctx" in e:
                    detail["ctx"] = e["ctx"]
                errors.append(detail)
    if errors:
        raise ValidationError.from_exception_data("ChannelContents", errors)
    return out


class ChannelContents:
    """A `{channel: content}` object in a request: each registered channel's content model."""

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        plain = core_schema.dict_schema(core_schema.str_schema(), core_schema.dict_schema())
        return core_schema.no_info_after_validator_function(_contents, plain)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        properties = {name: handler(s.content.__pydantic_core_schema__) for name, s in CHANNELS.items()}
        return {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
            "description": "Content for each channel a message may go out on; a missing channel is not sent",
        }


Contents = Annotated[dict[str, dict[str, Any]], ChannelContents]
"""A request's `{channel: content}`, each channel's content validated by its own model."""
