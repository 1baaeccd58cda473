"""Dead letters: deliveries that ran out of attempts or age, filtered by channel, provider, code
and time; one inspected (its error, its attempts, what it carried); replayed one at a time,
or every one matching a filter after a confirmation that says how many. Replaying needs the
editor role. The same service as /v1/dead-letters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.console.filters import Parsed, options, parse
from herald.console.pages import AppContext, EditorDep, NavItem, Page, ViewerDep, redirect, render
from herald.console.security import services_of
from herald.deadletters import service as dead
from herald.deadletters.schemas import ReplayFilter
from herald.kit.channels import Channel
from herald.kit.uow import unit_of_work
from herald.notifications import service as notifications

router = APIRouter(prefix="/apps/{app_id}/dead-letters")
PAGE_SIZE = 50
TIMES = ("since", "until")


def _parse(params: Mapping[str, Any]) -> tuple[Parsed | None, dict[str, str]]:
    return parse({k: v for k, v in params.items() if isinstance(v, str)}, ("provider", "reason"), TIMES)


def _text(f: Parsed, name: str) -> str | None:
    value = f.values.get(name)
    return value if isinstance(value, str) else None


def _time(f: Parsed, name: str) -> datetime | None:
    value = f.values.get(name)
    return value if isinstance(value, datetime) else None


def _replay_filter(f: Parsed) -> ReplayFilter:
    channel = _text(f, "channel")
    return ReplayFilter(
        channel=Channel(channel) if channel else None,
        provider=_text(f, "provider"),
        reason=_text(f, "reason"),
        since=_time(f, "since"),
        until=_time(f, "until"),
    )


def _here(app: AppContext, f: Parsed | None = None, **extra: str) -> str:
    query = {**(f.raw if f else {}), **extra}
    return f"/apps/{app.id}/dead-letters" + (f"?{urlencode(query)}" if query else "")


@router.get("")
async def list_dead_letters(request: Request, app: ViewerDep) -> Response:
    f, errors = _parse(request.query_params)
    context: dict[str, Any] = {"form": dict(request.query_params), "errors": errors, "items": [], "next": None}
    context["channels"] = options(Channel.names())
    if f is not None:
        async with unit_of_work(services_of(request).sessions) as uow:
            items, last = await dead.list_page(
                uow,
                app.id,
                channel=_text(f, "channel"),
                provider=_text(f, "provider"),
                reason=_text(f, "reason"),
                since=_time(f, "since"),
                until=_time(f, "until"),
                cursor=f.cursor,
                limit=PAGE_SIZE,
            )
        context |= {"items": items, "filtered": bool(f.raw), "query": urlencode(f.raw)}
        context["next"] = _here(app, f, cursor=last.hex) if last else None
        context["first"] = _here(app, f) if f.cursor else None
    return await render(request, "dead_letters/list.html", context, status=422 if errors else 200)


@router.get("/replay")
async def confirm_replay(request: Request, app: EditorDep) -> Response:
    """The confirmation of a bulk replay: how many dead letters match now, and the filter."""
    f, _ = _parse(request.query_params)
    if f is None or not f.raw:
        return redirect(request, _here(app, f), flash="Choose a filter first: a bulk replay takes those matching it.",
                        kind="error")  # fmt: skip
    replay = _replay_filter(f)
    async with unit_of_work(services_of(request).sessions) as uow:
        count = await dead.count_matching(uow, app.id, replay)
    context = {"count": count, "limit": replay.limit, "filters": f.raw, "back": _here(app, f)}
    return await render(request, "dead_letters/confirm.html", context)


@router.post("/replay")
async def replay_matching(request: Request, app: EditorDep) -> Response:
    f, _ = _parse(await request.form())
    if f is None or not f.raw:
        return redirect(request, _here(app), flash="Nothing replayed: the filter was not valid.", kind="error")
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        ids = await dead.replay_matching(uow, services.broker, services.outbox, app.id, _replay_filter(f))
    return redirect(request, _here(app, f), flash=f"{len(ids)} dead letter{'s' if len(ids) != 1 else ''} replayed.")


@router.get("/{delivery_id}")
async def inspect(request: Request, app: ViewerDep, delivery_id: uuid.UUID) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        letter = await dead.inspect(uow, app.id, delivery_id)
        n = await notifications.get_notification(uow, app.id, letter.notification_id)
    return await render(request, "dead_letters/inspect.html", {"d": letter, "n": n})


@router.post("/{delivery_id}/replay")
async def replay_one(request: Request, app: EditorDep, delivery_id: uuid.UUID) -> Response:
    services = services_of(request)
    async with unit_of_work(services.sessions) as uow:
        ids = await dead.replay(uow, services.broker, services.outbox, app.id, [delivery_id])
    if not ids:
        return redirect(
            request, _here(app), flash="Nothing replayed: it is not a dead letter (any more).", kind="error"
        )
    return redirect(request, _here(app), flash="The dead letter is replayed: it is queued again.")


page = Page(router, nav=NavItem("Dead letters", "dead-letters"))
