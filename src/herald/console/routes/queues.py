"""Queues & providers: each channel's queue, the providers' breakers, and the last hour's
throughput and latency, refreshed every few seconds (htmx polls the live fragment; the
charts redraw from `history.json` after each refresh).

Who: these figures are deployment-wide operator data (every app's traffic counted together),
so the page needs the owner role, in the app of the path: the people trusted with an app's
secrets and integrations. What it shows of other apps is counts only, never a notification;
provider accounts of other apps are left out (an app's own accounts are its owners' business).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from herald.console.pages import AppContext, NavItem, OwnerDep, Page, render
from herald.console.schemas import Role
from herald.console.security import services_of
from herald.monitoring.schemas import ChannelHistory, ProviderHealth
from herald.monitoring.service import Monitor

router = APIRouter(prefix="/apps/{app_id}/queues")
REFRESH_SECONDS = 5
WINDOW = timedelta(hours=1)
# Breaker states as words and a shape: the state is never told by colour alone.
STATES = {
    "closed": ("Closed", "✓", "calls go through"),
    "half_open": ("Half-open", "◐", "a few trial calls go through"),
    "open": ("Open", "✕", "calls are refused until the cooldown ends"),
}


def _monitor(request: Request) -> Monitor | None:
    return services_of(request).monitor


def visible(health: list[ProviderHealth], app_id: uuid.UUID) -> list[ProviderHealth]:
    """The deployment's providers and this app's own accounts; other apps' accounts are theirs."""
    return [h for h in health if h.app_id is None or h.app_id == app_id]


async def _live(request: Request, app: AppContext) -> dict[str, Any]:
    monitor = _monitor(request)
    if monitor is None:
        return {"available": False}
    snapshot = await monitor.snapshot()
    health = visible(await monitor.provider_health(), app.id)
    history = await monitor.history(WINDOW)
    return {
        "available": True,
        "snapshot": snapshot,
        "providers": health,
        "states": STATES,
        "minutes": _table(history),
        "channels": [h.channel for h in history],
        "refresh": REFRESH_SECONDS,
    }


def _table(history: list[ChannelHistory]) -> list[dict[str, Any]]:
    """The charts' numbers by minute, newest first: the accessible table under the charts."""
    if not history:
        return []
    rows = []
    for i, point in enumerate(history[0].points):
        rows.append({"minute": point.minute, "by_channel": [h.points[i] for h in history]})
    return rows[::-1]


@router.get("")
async def queues(request: Request, app: OwnerDep) -> Response:
    return await render(request, "queues/page.html", await _live(request, app))


@router.get("/live")
async def live(request: Request, app: OwnerDep) -> Response:
    """The fragment htmx polls: the queue table, the providers and the charts' table."""
    return await render(request, "queues/live.html", await _live(request, app))


@router.get("/history.json")
async def history_json(request: Request, app: OwnerDep) -> Response:
    """The last hour per channel for the charts: minutes as Unix seconds, then per channel
    the deliveries sent and the latency p50 and p95 in seconds (null: nothing sent)."""
    monitor = _monitor(request)
    history = [] if monitor is None else await monitor.history(WINDOW)
    minutes = [int(p.minute.timestamp()) for p in history[0].points] if history else []
    channels = [
        {
            "channel": h.channel,
            "sent": [p.sent for p in h.points],
            "p50": [p.p50_seconds for p in h.points],
            "p95": [p.p95_seconds for p in h.points],
        }
        for h in history
    ]
    return JSONResponse({"minutes": minutes, "channels": channels})


page = Page(router, nav=NavItem("Queues", "queues", role=Role.OWNER))
