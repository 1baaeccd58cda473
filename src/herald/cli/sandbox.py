"""`herald sandbox`: look into the simulators' device inbox."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

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
