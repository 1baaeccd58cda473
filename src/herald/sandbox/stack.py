"""The sandbox wired to Herald: every simulator started, and an adapter for each pointed at it.

This is what lets `herald run` deliver on every channel with no provider credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from herald.config import SandboxSettings
from herald.providers.base import Adapter
from herald.providers.smtp import SmtpAdapter
from herald.sandbox.inbox import Inbox
from herald.sandbox.server import Sandbox, Simulator
from herald.sandbox.smtp import SmtpSimulator


@dataclass
class SandboxStack:
    sandbox: Sandbox
    inbox: Inbox
    adapters: list[Adapter] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox.port}"

    async def stop(self) -> None:
        for adapter in self.adapters:
            await adapter.close()
        await self.sandbox.stop()


async def start_sandbox(cfg: SandboxSettings, *, from_address: str) -> SandboxStack:
    """Start the simulators on the configured ports (0 = any free port)."""
    inbox = Inbox()
    smtp = SmtpSimulator(inbox, host=cfg.host, port=cfg.smtp_port)
    sims: list[Simulator] = [smtp]
    sandbox = Sandbox(sims, inbox)
    await sandbox.start(cfg.host, cfg.http_port)
    adapters: list[Adapter] = [SmtpAdapter(smtp.adapter_config(from_address))]
    return SandboxStack(sandbox, inbox, adapters)
