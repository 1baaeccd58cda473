"""`herald sandbox`: look into the simulators' device inbox."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from herald.cli.context import settings

app = typer.Typer(help="The local provider sandbox.", no_args_is_help=True)
console = Console()


@app.command("inbox")
def inbox(
    destination: str | None = typer.Option(None, help="Only this address, number, token or endpoint"),
    provider: str | None = typer.Option(None, help="Only this simulator (smtp, apns, fcm, ...)"),
    url: str | None = typer.Option(None, help="Sandbox URL (default: from settings)"),
    as_json: bool = typer.Option(False, "--json", help="Print raw JSON"),
) -> None:
    """List the messages the simulators accepted, duplicates included."""
    s = settings()
    base = url or f"http://{s.sandbox.host}:{s.sandbox.http_port}"
    query = urllib.parse.urlencode({k: v for k, v in {"destination": destination, "provider": provider}.items() if v})
    with urllib.request.urlopen(f"{base}/_sandbox/inbox?{query}", timeout=10) as resp:  # noqa: S310 - local sandbox
        data = json.load(resp)
    if as_json:
        console.print_json(data=data)
        return
    table = Table("#", "provider", "destination", "key", "summary")
    for m in data["messages"]:
        body = m["body"]
        summary = (
            body.get("subject") or body.get("title") or body.get("Body") or body.get("text")
            if isinstance(body, dict)
            else str(body)
        )
        table.add_row(str(m["seq"]), m["provider"], m["destination"], (m["key"] or "")[:12], str(summary)[:60])
    console.print(table)
    console.print(f"{data['total']} message(s)")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1"),
    http_port: int = typer.Option(8025, help="The HTTP simulators and the control API"),
    smtp_port: int = typer.Option(2525),
    apns_port: int = typer.Option(8443, help="APNs (HTTP/2 over TLS)"),
    env_file: Path | None = typer.Option(None, help="Write the HERALD_* variables that reach this sandbox here (JSON)"),
    latency_ms: float = typer.Option(0.0, help="Latency every simulator adds per request"),
    vonage_rate_limit: bool = typer.Option(True, help="Enforce Vonage's 30 requests/s per key"),
) -> None:
    """Run every provider simulator on its own, for Herald processes elsewhere (bench, chaos, staging)."""
    from herald.config import SandboxSettings
    from herald.kit import heap
    from herald.sandbox.faults import FaultSettings
    from herald.sandbox.stack import start_sandbox
    from herald.serve import install_signals

    async def main() -> None:
        cfg = SandboxSettings(host=host, http_port=http_port, smtp_port=smtp_port)
        stack = await start_sandbox(
            cfg,
            from_address="Herald <noreply@herald.localhost>",
            apns_port=apns_port,
            vonage_rate_limit=30 if vonage_rate_limit else None,
        )
        for sim in stack.sandbox.simulators.values():
            sim.faults.configure(FaultSettings(latency_ms=latency_ms))
        env = stack.environment()
        if env_file is not None:
            await asyncio.to_thread(env_file.write_text, json.dumps(env))
        console.print(f"sandbox: {stack.base_url}  (SMTP {smtp_port}, APNs {apns_port})", highlight=False)
        stop = asyncio.Event()
        install_signals(stop)
        heap.settle()
        await stop.wait()
        await stack.stop()

    import uvloop

    uvloop.install()
    asyncio.run(main())
