"""HTTP for templates: product people edit these, no deploy needed.

`PUT /{key}` saves and publishes at once, as before versions; the draft routes let an edit
wait for a publish. Versions made or published here are recorded as by `app:<key>`.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.api.subjects import AppCaller
from herald.kit.uow import unit_of_work
from herald.notifications.schemas import NotificationOut
from herald.templates import preview as previews
from herald.templates import service, testsend
from herald.templates.schemas import (
    DiffOut,
    PreviewIn,
    PreviewOut,
    TemplateIn,
    TemplateOut,
    TemplateVersionOut,
    TestSendIn,
    VersionInfo,
)

router = APIRouter(
    prefix="/v1/templates", tags=["templates"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)
Key = Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
Number = Path(ge=1, le=2**31 - 1)
Other = Path(ge=1, le=2**31 - 1)


def actor(app: AppCaller) -> str:
    """Who an app's request acts as, in a version's history."""
    return f"app:{app.key}"


@router.get("", response_model=list[TemplateOut], summary="The live templates")
async def list_templates(app: AppDep, services: ServicesDep) -> list[TemplateOut]:
    async with unit_of_work(services.sessions) as uow:
        return [service.to_out(t) for t in await service.list_templates(uow, app.app_id)]


@router.put(
    "/{key}",
    response_model=TemplateOut,
    responses={201: {"model": TemplateOut, "description": "The template was created"}, **responses(409)},
    summary="Create or replace a template, live at once (a new version, published)",
)
async def put_template(
    body: TemplateIn, app: AppDep, services: ServicesDep, response: Response, key: str = Key
) -> TemplateOut:
    async with unit_of_work(services.sessions) as uow:
        t, created = await service.put_template(uow, app.app_id, key, body, actor(app))
    response.status_code = 201 if created else 200
    return service.to_out(t)


@router.get("/{key}", response_model=TemplateOut, responses=responses(404), summary="The live version")
async def get_template(app: AppDep, services: ServicesDep, key: str = Key) -> TemplateOut:
    async with unit_of_work(services.sessions) as uow:
        return service.to_out(await service.get_template(uow, app.app_id, key))


@router.delete("/{key}", status_code=204, responses=responses(404, 409), summary="Delete a template and its history")
async def delete_template(app: AppDep, services: ServicesDep, key: str = Key) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete_template(uow, app.app_id, key)
    return Response(status_code=204)


@router.put(
    "/{key}/draft",
    response_model=TemplateVersionOut,
    responses={201: {"model": TemplateVersionOut, "description": "The draft was made"}, **responses(409)},
    summary="Make or replace the draft; sends go on using the live version",
)
async def put_draft(
    body: TemplateIn, app: AppDep, services: ServicesDep, response: Response, key: str = Key
) -> TemplateVersionOut:
    async with unit_of_work(services.sessions) as uow:
        v, created = await service.save_draft(uow, app.app_id, key, body, actor(app))
        out = service.version_out(v)
    response.status_code = 201 if created else 200
    return out


@router.get("/{key}/draft", response_model=TemplateVersionOut, responses=responses(404))
async def get_draft(app: AppDep, services: ServicesDep, key: str = Key) -> TemplateVersionOut:
    async with unit_of_work(services.sessions) as uow:
        return service.version_out(await service.version_of(uow, app.app_id, key, "draft"))


@router.delete("/{key}/draft", status_code=204, responses=responses(404, 409), summary="Discard the draft")
async def delete_draft(app: AppDep, services: ServicesDep, key: str = Key) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.discard_draft(uow, app.app_id, key)
    return Response(status_code=204)


@router.post("/{key}/publish", response_model=TemplateOut, responses=responses(404, 409), summary="The draft goes live")
async def publish(app: AppDep, services: ServicesDep, key: str = Key) -> TemplateOut:
    async with unit_of_work(services.sessions) as uow:
        t = await service.publish(uow, app.app_id, key, actor(app))
        return service.to_out(t)


@router.get("/{key}/versions", response_model=list[VersionInfo], responses=responses(404), summary="History")
async def list_versions(app: AppDep, services: ServicesDep, key: str = Key) -> list[VersionInfo]:
    async with unit_of_work(services.sessions) as uow:
        return await service.history(uow, app.app_id, key)


@router.get("/{key}/versions/{number}", response_model=TemplateVersionOut, responses=responses(404))
async def get_version(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number) -> TemplateVersionOut:
    async with unit_of_work(services.sessions) as uow:
        return service.version_out(await service.version_of(uow, app.app_id, key, number))


@router.get(
    "/{key}/versions/{number}/diff/{other}",
    response_model=DiffOut,
    responses=responses(404),
    summary="A unified diff per field, from version `number` to version `other`",
)
async def diff(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number, other: int = Other) -> DiffOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.diff(uow, app.app_id, key, number, other)


@router.post(
    "/{key}/versions/{number}/restore",
    response_model=TemplateVersionOut,
    responses=responses(404, 409),
    summary="Version `number`'s content as the draft",
)
async def restore(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number) -> TemplateVersionOut:
    async with unit_of_work(services.sessions) as uow:
        return service.version_out(await service.restore(uow, app.app_id, key, number, actor(app)))


@router.post(
    "/{key}/preview",
    response_model=PreviewOut,
    responses=responses(404, 409),
    summary="Render every channel and locale of a version (or of content not saved), with the problems found",
)
async def preview(body: PreviewIn, app: AppDep, services: ServicesDep, key: str = Key) -> PreviewOut:
    async with unit_of_work(services.sessions) as uow:
        return await previews.preview(uow, services.cache, app.app_id, key, body)


@router.post(
    "/{key}/test-send",
    response_model=NotificationOut,
    status_code=202,
    responses=responses(404, 409),
    summary="Send one version (the draft by default) to one address or user, as a test",
)
async def test_send(body: TestSendIn, app: AppDep, services: ServicesDep, key: str = Key) -> NotificationOut:
    return await testsend.test_send(services.sessions, services.intake, app.app_id, key, body)
