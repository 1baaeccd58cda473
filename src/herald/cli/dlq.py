"""`herald dlq`: the operator's view of dead letters, across apps or for one."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from herald.apps.models import App
from herald.cli.context import settings
from herald.deadletters import service
from herald.deadletters.schemas import DeadLetterOut, ReplayFilter
from herald.kit.channels import Channel
from herald.kit.clock import utcnow
from herald.kit.uow import unit_of_work
from herald.runtime import Runtime, build_runtime

app = typer.Typer(help="Dead letters: list, show and replay.", no_args_is_help=True)
console = Console()
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str | None) -> datetime | None:
    """'90s', '15m', '1h', '2d' ago, or an ISO timestamp."""
    if not text:
        return None
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    try:
        if m:
            return utcnow() - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
        value = datetime.fromisoformat(text)
    except (OverflowError, ValueError) as exc:
        raise typer.BadParameter(f"{text!r} is not a time Herald can look back to ({exc})") from None
    if value.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-11-21T10:00:00+00:00")
    return value


async def _app_id(runtime: Runtime, key: str | None) -> uuid.UUID | None:
    if key is None:
        return None
    async with runtime.sessions() as session:
        found = await session.scalar(select(App.id).where(App.key_id == key))
    if found is None:
        raise typer.BadParameter(f"no app with key {key}")
    return found


def _run(body: object) -> object:
    async def main() -> object:
        runtime = build_runtime(settings())
        try:
            return await body(runtime)  # type: ignore[operator]
        finally:
            await runtime.close()

    return asyncio.run(main())


@app.command("list")
def list_(
    channel: Channel | None = typer.Option(None),
    reason: str | None = typer.Option(None),
    since: str | None = typer.Option(None, help="e.g. 1h, 30m, 2d"),
    app_key: str | None = typer.Option(None, "--app"),
    limit: int = typer.Option(50),
) -> None:
    """List dead letters, newest first."""

    async def body(runtime: Runtime) -> list[DeadLetterOut]:
        async with unit_of_work(runtime.sessions) as uow:
            items, _ = await service.list_page(
                uow,
                await _app_id(runtime, app_key),
                channel=channel.value if channel else None,
                reason=reason,
                since=parse_since(since),
                limit=limit,
            )
        return items

    items = _run(body)
    assert isinstance(items, list)
    table = Table("delivery", "channel", "reason", "attempts", "replays", "died")
    for d in items:
        table.add_row(d.id.hex, d.channel.value, d.reason or "", str(d.attempts), str(d.replays), str(d.finished_at))
    console.print(table)


@app.command("show")
def show(
    delivery_id: str = typer.Argument(..., help="The dead delivery's id"),
    app_key: str | None = typer.Option(None, "--app"),
) -> None:
    """One dead letter with every provider attempt and its answer."""

    async def body(runtime: Runtime) -> DeadLetterOut:
        async with unit_of_work(runtime.sessions) as uow:
            return await service.inspect(uow, await _app_id(runtime, app_key), uuid.UUID(delivery_id))

    d = _run(body)
    assert isinstance(d, DeadLetterOut)
    console.print(
        f"delivery {d.id.hex}  event {d.event_id}  channel {d.channel.value}  reason {d.reason}"
        f"  attempts {d.attempts}  replays {d.replays}  died {d.finished_at}"
    )
    table = Table("#", "provider", "outcome", "code", "started", "ms", "detail")
    for a in d.attempt_log or []:
        table.add_row(
            str(a.number), a.provider, a.outcome, a.code or "", str(a.started_at), str(a.duration_ms), a.detail or ""
        )
    console.print(table)


@app.command("replay")
def replay(
    delivery_id: str | None = typer.Argument(None, help="One dead letter; or use the filters"),
    channel: Channel | None = typer.Option(None),
    reason: str | None = typer.Option(None),
    since: str | None = typer.Option(None, help="e.g. 1h"),
    app_key: str | None = typer.Option(None, "--app"),
    limit: int = typer.Option(10_000, help="At most this many in one run"),
) -> None:
    """Send dead letters again. Idempotent: a letter already replayed is not sent twice."""

    async def body(runtime: Runtime) -> list[uuid.UUID]:
        app_id = await _app_id(runtime, app_key)
        async with unit_of_work(runtime.sessions) as uow:
            if delivery_id:
                return await service.replay(uow, runtime.broker, runtime.outbox, app_id, [uuid.UUID(delivery_id)])
            f = ReplayFilter(channel=channel, reason=reason, since=parse_since(since), limit=limit)
            return await service.replay_matching(uow, runtime.broker, runtime.outbox, app_id, f)

    ids = _run(body)
    assert isinstance(ids, list)
    console.print(f"replayed {len(ids)} dead letter(s)")
