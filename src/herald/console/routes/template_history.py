"""A template's history: its versions (state, who, when), one version read-only, the diff of
two (the service's unified diff, each line marked + or -), and restore as the draft."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from herald.console import editing
from herald.console.pages import EditorDep, Page, ViewerDep, redirect, render
from herald.console.routes.templates import actor
from herald.console.security import services_of
from herald.kit.uow import unit_of_work
from herald.templates import service
from herald.templates.endpoints import Key, Number
from herald.templates.schemas import FieldDiff

router = APIRouter(prefix="/apps/{app_id}/templates/{key}")
Either = Path(ge=1, le=2**31 - 1)


def diff_lines(fields: list[FieldDiff]) -> list[dict[str, Any]]:
    """Each field's diff as lines marked added, removed or context (the headers dropped)."""
    out = []
    for f in fields:
        lines = []
        for line in f.diff.splitlines():
            if line.startswith(("---", "+++")):
                continue
            kind = {"+": "added", "-": "removed", "@": "hunk"}.get(line[:1], "context")
            lines.append({"kind": kind, "marker": line[:1] if kind != "context" else " ", "text": line[1:]})
        out.append({"field": f.field, "lines": lines})
    return out


@router.get("/history")
async def history(request: Request, app: ViewerDep, key: str = Key) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        versions = await service.history(uow, app.id, key)
    return await render(request, "templates/history.html", {"tab": "history", "key": key, "versions": versions})


@router.get("/versions/{number}")
async def version(request: Request, app: ViewerDep, key: str = Key, number: int = Number) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        v = service.version_out(await service.version_of(uow, app.id, key, number))
    form = editing.from_version(v.description, v.default_locale, {"channels": v.channels, "locales": v.locales})
    channels = [(c, editing.controls(c)) for c in editing.channels()]
    context = {"tab": "history", "key": key, "v": v, "form": form, "sample": v.sample_data, "channels": channels}
    context["control_id"] = editing.control_id
    return await render(request, "templates/version.html", context)


@router.get("/diff/{number}/{other}")
async def diff(request: Request, app: ViewerDep, key: str = Key, number: int = Number, other: int = Either) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        found = await service.diff(uow, app.id, key, number, other)
    context = {"tab": "history", "key": key, "a": number, "b": other, "fields": diff_lines(found.fields)}
    return await render(request, "templates/diff.html", context)


@router.get("/diff")
async def choose_diff(
    request: Request,
    app: ViewerDep,
    key: str = Key,
    a: int = Query(ge=1, le=2**31 - 1),
    b: int = Query(ge=1, le=2**31 - 1),
) -> Response:
    """The history's compare form (a GET of two numbers) lands on the diff's own address."""
    return redirect(request, f"/apps/{app.id}/templates/{key}/diff/{a}/{b}")


@router.post("/versions/{number}/restore")
async def restore(request: Request, app: EditorDep, key: str = Key, number: int = Number) -> Response:
    async with unit_of_work(services_of(request).sessions) as uow:
        await service.restore(uow, app.id, key, number, actor(app))
    flash = f"Version {number} is restored as the draft: check it, then publish it."
    return redirect(request, f"/apps/{app.id}/templates/{key}/edit", flash=flash)


page = Page(router)
