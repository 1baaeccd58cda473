"""Every provider kind Herald speaks: its channel, platforms, config model and adapter.

Adding a provider means one adapter module, one simulator, and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr

from herald.config import SmtpSettings
from herald.kit.channels import Channel
from herald.providers.apns import ApnsAdapter, ApnsConfig
from herald.providers.base import Adapter
from herald.providers.fcm import FcmAdapter, FcmConfig
from herald.providers.sendgrid import SendGridAdapter, SendGridConfig
from herald.providers.smtp import SmtpAdapter
from herald.providers.twilio import TwilioAdapter, TwilioConfig
from herald.providers.vonage import VonageAdapter, VonageConfig
from herald.providers.webpush import WebPushAdapter, WebPushConfig


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    channel: Channel
    platforms: frozenset[str]
    config: type[BaseModel]
    build: Callable[[Any], Adapter]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("apns", Channel.PUSH, frozenset({"ios"}), ApnsConfig, ApnsAdapter),
        Kind("fcm", Channel.PUSH, frozenset({"android"}), FcmConfig, FcmAdapter),
        Kind("webpush", Channel.PUSH, frozenset({"web"}), WebPushConfig, WebPushAdapter),
        Kind("twilio", Channel.SMS, frozenset(), TwilioConfig, TwilioAdapter),
        Kind("vonage", Channel.SMS, frozenset(), VonageConfig, VonageAdapter),
        Kind("smtp", Channel.EMAIL, frozenset(), SmtpSettings, SmtpAdapter),
        Kind("sendgrid", Channel.EMAIL, frozenset(), SendGridConfig, SendGridAdapter),
    )
}


def parse_config(kind: str, raw: dict[str, Any]) -> BaseModel:
    """Validate a provider config; raises pydantic's ValidationError on bad input."""
    return KINDS[kind].config.model_validate(raw)


def build_adapter(kind: str, config: BaseModel | dict[str, Any], *, name: str | None = None) -> Adapter:
    """An adapter for `kind`, optionally named after the account it serves."""
    k = KINDS[kind]
    adapter = k.build(config if isinstance(config, BaseModel) else parse_config(kind, config))
    if name:
        adapter.name = name
    return adapter


def reveal(config: BaseModel) -> dict[str, Any]:
    """The config with secrets in clear, for sealing at rest (never for display)."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(getattr(config, k)) for k in type(config).model_fields}


def masked(config: BaseModel) -> dict[str, Any]:
    """The config as the API shows it: secrets replaced by a mask, certificates elided."""
    out: dict[str, Any] = {}
    for key in type(config).model_fields:
        value = getattr(config, key)
        out[key] = "**********" if isinstance(value, SecretStr) else value
    out.pop("ca_pem", None)
    return out
