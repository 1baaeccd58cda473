"""`herald sandbox`: look into the simulators' device inbox."""

from __future__ import annotations

import asyncio
import json
import shlex
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from herald.cli.context import settings

app = typer.Typer(help="The local provider sandbox.", no_args_is_help=True)
console = Console()


def _base(url: str | None) -> str:
    s = settings()
    return url or f"http://{s.sandbox.host}:{s.sandbox.http_port}"


def _call(url: str, method: str = "GET") -> Any:
    """One request to the sandbox's control API; unreachable is one line naming the URL."""
    request = urllib.request.Request(url, method=method)  # noqa: S310 - the local sandbox
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        console.print(f"[red]the sandbox did not answer at {url}: {reason}[/red] (is `herald run` running?)")
        raise typer.Exit(1) from None


@app.command("inbox")
def inbox(
    destination: str | None = typer.Option(None, help="Only this address, number, token or endpoint"),
    provider: str | None = typer.Option(None, help="Only this simulator (smtp, apns, fcm, ...)"),
    since: int = typer.Option(0, help="Only messages after this sequence number (the # column): the next page"),
    limit: int = typer.Option(50, help="At most this many, the newest of those that match"),
    url: str | None = typer.Option(None, help="Sandbox URL (default: from settings)"),
    as_json: bool = typer.Option(False, "--json", help="Print raw JSON"),
) -> None:
    """List the messages the simulators accepted, duplicates included (kept in memory only:
    a restart of the sandbox empties it)."""
    from herald.sandbox.inbox import summary  # here: the CLI loads the sandbox only where it is used

    params = {"destination": destination, "provider": provider, "since": since or None, "limit": limit}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    data = _call(f"{_base(url)}/_sandbox/inbox?{query}")
    if as_json:
        console.print_json(data=data)
        return
    table = Table("#", "provider", "destination", "key", "summary")
    for m in data["messages"]:
        title, text = summary(m["provider"], m["body"])
        table.add_row(str(m["seq"]), m["provider"], m["destination"], (m["key"] or "")[:12], (title or text)[:60])
    console.print(table)
    shown = len(data["messages"])
    more = f"; the {shown} newest shown (--limit)" if shown < data["total"] else ""
    console.print(f"{data['total']} message(s){more}")


@app.command("clear")
def clear(url: str | None = typer.Option(None, help="Sandbox URL (default: from settings)")) -> None:
    """Empty the inbox (every simulator's messages)."""
    _call(f"{_base(url)}/_sandbox/inbox", method="DELETE")
    console.print("inbox cleared")


@app.command("env")
def env(env_file: Path = typer.Argument(..., help="The file `herald sandbox serve --env-file` wrote")) -> None:
    """Print `export` lines that point Herald's processes at a running sandbox:
    `eval "$(herald sandbox env sandbox.json)"`."""
    try:
        variables = json.loads(env_file.read_text())
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {env_file}: {exc}[/red]")
        raise typer.Exit(1) from None
    for name, value in variables.items():
        # Plain print: the values are JSON with spaces and PEM keys, quoted for the shell.
        print(f"export {name}={shlex.quote(str(value))}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1"),
    http_port: int = typer.Option(8025, help="The HTTP simulators and the control API"),
    smtp_port: int = typer.Option(2525),
    apns_port: int = typer.Option(8443, help="APNs (HTTP/2 over TLS)"),
    env_file: Path | None = typer.Option(None, help="Write the HERALD_* variables that reach this sandbox here (JSON)"),
    latency_ms: float = typer.Option(0.0, help="Latency every simulator adds per request"),
    vonage_rate_limit: bool = typer.Option(True, help="Enforce Vonage's 30 requests/s per key"),
    callbacks_to: str | None = typer.Option(
        None, help="Herald's base URL: Twilio, Vonage, SendGrid and Mailchimp post signed receipts to its /v1/callbacks"
    ),
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
            callbacks_to=callbacks_to,
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
