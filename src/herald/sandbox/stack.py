"""The sandbox wired to Herald: every simulator started, and an adapter for each pointed at it.

This is what lets `herald run` deliver on every channel with no provider credentials.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from pydantic import BaseModel

from herald.config import SandboxSettings, SmtpSettings
from herald.kit.egress import EgressPolicy
from herald.providers.base import Adapter
from herald.providers.registry import build_adapter, reveal
from herald.sandbox.apns import ApnsSimulator
from herald.sandbox.fcm import FcmSimulator
from herald.sandbox.inbox import Inbox
from herald.sandbox.mailchimp import MailchimpSimulator
from herald.sandbox.sendgrid import SendGridSimulator
from herald.sandbox.server import Sandbox
from herald.sandbox.smtp import SmtpSimulator
from herald.sandbox.twilio import TwilioSimulator
from herald.sandbox.vonage import VonageAccount, VonageSimulator
from herald.sandbox.webpush import WebPushSimulator


@dataclass
class SandboxStack:
    sandbox: Sandbox
    inbox: Inbox
    adapters: list[Adapter] = field(default_factory=list)
    # What Herald processes elsewhere need to reach these simulators: provider configs by kind.
    configs: dict[str, BaseModel] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """HERALD_* variables that point a Herald process at this sandbox."""
        smtp = self.configs["smtp"]
        assert isinstance(smtp, SmtpSettings)
        providers = {k: reveal(v) for k, v in self.configs.items() if k != "smtp"}
        return {
            "HERALD_PROVIDERS": json.dumps(providers),
            "HERALD_SMTP__HOST": smtp.host,
            "HERALD_SMTP__PORT": str(smtp.port),
            "HERALD_SANDBOX__ENABLED": "false",
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox.port}"

    @property
    def webpush(self) -> WebPushSimulator:
        sim = self.sandbox.simulator("webpush")
        assert isinstance(sim, WebPushSimulator)
        return sim

    async def stop(self) -> None:
        for adapter in self.adapters:
            await adapter.close()
        await self.sandbox.stop()


async def start_sandbox(
    cfg: SandboxSettings,
    *,
    from_address: str,
    apns_port: int = 0,
    vonage_rate_limit: int | None = 30,
    egress: EgressPolicy | None = None,
    callbacks_to: str | None = None,
) -> SandboxStack:
    """Start every simulator (ports from `cfg`, 0 = any free port) and adapters bound to them.

    `egress`: the deployment's rules, which the web push adapter applies to endpoints (in
    production they refuse the sandbox's own loopback endpoints). `callbacks_to`: Herald's
    base URL; the Twilio, Vonage, SendGrid and Mailchimp simulators then post their signed receipts to
    its `/v1/callbacks/{provider}`, as the real accounts would be set up to.
    """
    inbox = Inbox()
    smtp = SmtpSimulator(inbox, host=cfg.host, port=cfg.smtp_port)
    apns = ApnsSimulator(inbox, host=cfg.host, port=apns_port)
    fcm, webpush = FcmSimulator(inbox), WebPushSimulator(inbox)
    hook = (lambda kind: f"{callbacks_to.rstrip('/')}/v1/callbacks/{kind}") if callbacks_to else (lambda kind: None)
    twilio = TwilioSimulator(inbox)
    # Herald takes signed receipts only: the sandbox's Vonage account signs, as one should.
    signing = VonageAccount(signature_secret=secrets.token_urlsafe(24), signature_method="sha256")
    vonage = VonageSimulator(inbox, rate_limit=vonage_rate_limit, account=signing)
    sendgrid = SendGridSimulator(inbox, event_webhook_url=hook("sendgrid"))
    mailchimp = MailchimpSimulator(inbox)
    if callbacks_to:
        mailchimp.configure_webhook(f"{callbacks_to.rstrip('/')}/v1/callbacks/mailchimp")
    sandbox = Sandbox([smtp, apns, fcm, webpush, twilio, vonage, sendgrid, mailchimp], inbox)
    port = await sandbox.start(cfg.host, cfg.http_port)
    base = f"http://{cfg.host}:{port}"
    webpush.base_url = base
    configs: dict[str, BaseModel] = {
        "smtp": smtp.adapter_config(from_address),
        "apns": apns.adapter_config(),
        "fcm": fcm.adapter_config(base),
        "webpush": webpush.adapter_config(base),
        "twilio": twilio.adapter_config(base, status_callback_url=hook("twilio")),
        "vonage": vonage.adapter_config(base, status_callback_url=hook("vonage")),
        "sendgrid": sendgrid.adapter_config(base),
        "mailchimp": mailchimp.adapter_config(base),
    }
    adapters = [build_adapter(kind, cfg, egress=egress) for kind, cfg in configs.items()]
    return SandboxStack(sandbox, inbox, adapters, configs)
