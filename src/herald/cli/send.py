"""`herald send`: a quick test send through the running API."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid

import typer
from rich.console import Console

from herald.cli.context import settings

console = Console()


def send(
    to: str = typer.Option(..., help="An email address, or an E.164 phone number for SMS"),
    subject: str = typer.Option("Hello from Herald", help="Email subject"),
    text: str = typer.Option("It works.", help="Message text"),
    key: str = typer.Option(..., envvar="HERALD_APP_KEY", help="App key"),
    secret: str = typer.Option(..., envvar="HERALD_APP_SECRET", help="App secret"),
    url: str | None = typer.Option(None, help="API URL (default: from settings)"),
) -> None:
    """Send one notification to an inline recipient and print the API's answer."""
    s = settings()
    base = url or f"http://{s.api.host}:{s.api.port}"
    is_phone = to.startswith("+")
    body = {
        "event_id": f"cli-{uuid.uuid4().hex}",
        "recipient": {"phone": to} if is_phone else {"email": to},
        "content": {"sms": {"text": text}} if is_phone else {"email": {"subject": subject, "text": text}},
    }
    auth = base64.b64encode(f"{key}:{secret}".encode()).decode()
    req = urllib.request.Request(  # noqa: S310 - operator-supplied Herald URL
        f"{base}/v1/notifications",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            console.print(f"HTTP {resp.status}")
            console.print_json(resp.read().decode())
    except urllib.error.HTTPError as exc:
        console.print(f"HTTP {exc.code}")
        console.print_json(exc.read().decode())
        raise typer.Exit(1) from exc
