"""The `herald` command."""

from __future__ import annotations

import typer

from herald.cli import apps, console, dlq, processes, run, sandbox, send
from herald.cli.status import status

app = typer.Typer(help="Herald: multi-channel notifications.", no_args_is_help=True, add_completion=False)
app.command("run", help="Set up and run everything in one process (API, workers, scheduler, sandbox).")(run.run)
app.command("migrate", help="Bring the database schema up to date.")(run.migrate)
app.command("send", help="Send a quick test notification through the running API.")(send.send)
app.command("api", help="Serve the HTTP API only (production).")(processes.api)
app.command("worker", help="Deliver one or more channels' queues (production).")(processes.worker)
app.command("relay", help="Publish the outbox to the broker (production).")(processes.relay)
app.command("scheduler", help="Scheduled sends, due retries, reconciliation (production).")(processes.scheduler)
app.add_typer(apps.app, name="apps")
app.add_typer(console.app, name="console")
app.add_typer(dlq.app, name="dlq")
app.add_typer(sandbox.app, name="sandbox")
app.command("status", help="Queues, provider health and the last hour's throughput.")(status)

if __name__ == "__main__":
    app()
