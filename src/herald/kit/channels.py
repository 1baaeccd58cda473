"""The delivery channels' names, shared by every layer.

A channel has its own queue and its own workers, so one slow channel never blocks another.
The set is open: each channel is a module of `herald.channels` that registers itself there
(its content, destinations, rendering, message and sender), and its name becomes valid
everywhere a `Channel` is: settings, request schemas, queues. The built-in names are
attributes (`Channel.EMAIL`) so that code which means one of them says so.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


class Channel(str):
    """A registered channel's name; constructing one from an unknown name is a ValueError."""

    __slots__ = ()

    EMAIL: ClassVar[Channel]
    SMS: ClassVar[Channel]
    PUSH: ClassVar[Channel]

    # Insertion-ordered: the order channels are listed in (defaults, documentation).
    _known: ClassVar[dict[str, None]] = {}

    def __new__(cls, value: str) -> Channel:
        if str(value) not in cls.names():
            raise ValueError(f"unknown channel {value!r}; one of {', '.join(cls.names())}")
        return super().__new__(cls, value)

    @property
    def value(self) -> str:
        """The name as a plain string (what queues, keys and columns hold)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Channel({self.value!r})"

    @classmethod
    def register(cls, name: str) -> Channel:
        """Make `name` a channel (a channel module's registration does this)."""
        cls._known[name] = None
        return str.__new__(cls, name)

    @classmethod
    def unregister(cls, name: str) -> None:
        cls._known.pop(name, None)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        _load_registry()
        return tuple(cls._known)

    @classmethod
    def all(cls) -> list[Channel]:
        """Every registered channel, in registration order."""
        return [str.__new__(cls, name) for name in cls.names()]

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _validate, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(cls.names()), "title": "Channel"}


def _validate(value: str) -> Channel:
    if value not in Channel.names():
        raise PydanticCustomError(
            "unknown_channel", "unknown channel {channel}; one of {known}", {"channel": value, "known": Channel.names()}
        )
    return str.__new__(Channel, value)


_loading = False


def _load_registry() -> None:
    """Import `herald.channels` once, so that its modules have registered their names.

    kit is below every domain and cannot import one at module level; the first question
    about the set of channels is what brings the registry in.
    """
    global _loading
    if _loading:
        return
    _loading = True
    importlib.import_module("herald.channels.registry")


Channel.EMAIL = Channel.register("email")
Channel.SMS = Channel.register("sms")
Channel.PUSH = Channel.register("push")


class Platform(StrEnum):
    """A push device's platform decides which provider speaks to it."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"
