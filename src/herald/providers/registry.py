"""Every provider kind Herald speaks: its channel, platforms, config model and adapter.

Adding a provider means one adapter module, one simulator, and one entry here.

Each entry also says which hosts an app's own account of that kind makes Herald call, and
which hosts are the provider's own, for the egress rules (kit/egress.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, SecretStr

from herald.config import SmtpSettings
from herald.kit.channels import Channel
from herald.kit.egress import EGRESS_DENIED, Destination, EgressPolicy, Guard
from herald.providers.apns import ApnsAdapter, ApnsConfig
from herald.providers.base import Adapter
from herald.providers.fcm import FcmAdapter, FcmConfig
from herald.providers.mailchimp import MailchimpAdapter, MailchimpConfig
from herald.providers.messages import OutboundMessage
from herald.providers.outcome import Outcome, PermanentFailure
from herald.providers.sendgrid import SendGridAdapter, SendGridConfig
from herald.providers.smtp import SmtpAdapter
from herald.providers.twilio import TwilioAdapter, TwilioConfig
from herald.providers.vonage import VonageAdapter, VonageConfig
from herald.providers.webpush import WebPushAdapter, WebPushConfig

log = logging.getLogger(__name__)


class Build(Protocol):
    def __call__(self, config: Any, *, egress: Guard | None = None) -> Adapter: ...


def _url(field: str, url: str) -> Destination:
    try:
        parts = urlsplit(url)
        return Destination(field, parts.hostname or "", parts.scheme)
    except ValueError:
        return Destination(field, "", "")


def _base_url(config: BaseModel) -> list[Destination]:
    return [_url("base_url", str(getattr(config, "base_url", "")))]


def _fcm(config: BaseModel) -> list[Destination]:
    """The API, and the token endpoint named inside the service-account file."""
    assert isinstance(config, FcmConfig)
    try:
        info = orjson.loads(config.service_account.get_secret_value())
    except orjson.JSONDecodeError:
        info = None  # the adapter refuses to build; nothing is called
    uri = info.get("token_uri") if isinstance(info, dict) else None
    token = [_url("service_account.token_uri", uri)] if isinstance(uri, str) else []
    return _base_url(config) + token


def _smtp(config: BaseModel) -> list[Destination]:
    assert isinstance(config, SmtpSettings)
    return [Destination("host", config.host)]


def _none(config: BaseModel) -> list[Destination]:
    return []


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    channel: Channel
    platforms: frozenset[str]
    config: type[BaseModel]
    build: Build
    # The hosts an account of this kind makes Herald call, by config field.
    destinations: Callable[[BaseModel], list[Destination]] = _none
    # The provider's own hosts: an app's account may name them in production.
    hosts: frozenset[str] = frozenset()
    # Each message names its destination (web push endpoints): the push rules apply even
    # to the deployment's own account.
    app_endpoints: bool = False


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "apns",
            Channel.PUSH,
            frozenset({"ios"}),
            ApnsConfig,
            ApnsAdapter,
            _base_url,
            frozenset({"api.push.apple.com", "api.sandbox.push.apple.com"}),
        ),
        Kind(
            "fcm",
            Channel.PUSH,
            frozenset({"android"}),
            FcmConfig,
            FcmAdapter,
            _fcm,
            frozenset({"fcm.googleapis.com", "oauth2.googleapis.com"}),
        ),
        Kind("webpush", Channel.PUSH, frozenset({"web"}), WebPushConfig, WebPushAdapter, app_endpoints=True),
        Kind("twilio", Channel.SMS, frozenset(), TwilioConfig, TwilioAdapter, _base_url, frozenset({"api.twilio.com"})),
        Kind("vonage", Channel.SMS, frozenset(), VonageConfig, VonageAdapter, _base_url, frozenset({"rest.nexmo.com"})),
        Kind("smtp", Channel.EMAIL, frozenset(), SmtpSettings, SmtpAdapter, _smtp),
        Kind(
            "sendgrid",
            Channel.EMAIL,
            frozenset(),
            SendGridConfig,
            SendGridAdapter,
            _base_url,
            frozenset({"api.sendgrid.com", "api.eu.sendgrid.com"}),
        ),
        Kind(
            "mailchimp",
            Channel.EMAIL,
            frozenset(),
            MailchimpConfig,
            MailchimpAdapter,
            _base_url,
            frozenset({"mandrillapp.com"}),
        ),
    )
}


def parse_config(kind: str, raw: dict[str, Any]) -> BaseModel:
    """Validate a provider config; raises pydantic's ValidationError on bad input."""
    return KINDS[kind].config.model_validate(raw)


def build_adapter(
    kind: str, config: BaseModel | dict[str, Any], *, name: str | None = None, egress: EgressPolicy | None = None
) -> Adapter:
    """A deployment-wide adapter: its hosts are the operator's say-so, unchecked, but where
    each message names its destination (web push) the push rules of `egress` apply (without
    one, development's, as Settings' defaults)."""
    k = KINDS[kind]
    model = config if isinstance(config, BaseModel) else parse_config(kind, config)
    adapter = k.build(model, egress=(egress or EgressPolicy()).push) if k.app_endpoints else k.build(model)
    if name:
        adapter.name = name
    return adapter


def account_refusal(kind: str, config: BaseModel, egress: EgressPolicy) -> tuple[str, str] | None:
    """The config field and the reason, when an app's account names a host it may not."""
    k = KINDS[kind]
    for dest in k.destinations(config):
        reason = egress.account_refusal(dest, k.hosts)
        if reason is not None:
            return dest.field, reason
    return None


def build_account(kind: str, config: dict[str, Any], *, name: str, egress: EgressPolicy) -> Adapter:
    """An app's own account, checked again now (the rules may have changed since it was
    saved) and guarded at connect time; a refused one sends nothing."""
    k = KINDS[kind]
    model = parse_config(kind, config)
    refused = account_refusal(kind, model, egress)
    if refused is not None:
        log.warning("provider account %r (%s) refused by the egress rules: %s: %s", name, kind, *refused)
        return Refused(name, k.channel, f"{refused[0]}: {refused[1]}")
    adapter = k.build(model, egress=egress.push if k.app_endpoints else egress.accounts)
    adapter.name = name
    return adapter


@dataclass(slots=True)
class Refused:
    """An app's account the egress rules refuse: every send fails as `egress_denied`."""

    name: str
    channel: Channel
    reason: str
    collapses_duplicates: bool = False

    async def send(self, message: OutboundMessage) -> Outcome:
        return PermanentFailure(EGRESS_DENIED, self.reason)

    async def close(self) -> None:
        return None


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
