"""HTTP for layouts: shared email frames that templates' html extends, versioned like templates."""

from __future__ import annotations

from fastapi import APIRouter, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.uow import unit_of_work
from herald.templates import layouts as service
from herald.templates.endpoints import Key, Number, Other, actor
from herald.templates.schemas import DiffOut, LayoutIn, LayoutOut, LayoutVersionOut, VersionInfo

router = APIRouter(prefix="/v1/layouts", tags=["layouts"], route_class=JsonRoute, responses=responses(*AUTHENTICATED))


@router.get("", response_model=list[LayoutOut], summary="The live layouts")
async def list_layouts(app: AppDep, services: ServicesDep) -> list[LayoutOut]:
    async with unit_of_work(services.sessions) as uow:
        return [service.to_out(layout) for layout in await service.list_layouts(uow, app.app_id)]


@router.put(
    "/{key}",
    response_model=LayoutOut,
    responses={201: {"model": LayoutOut, "description": "The layout was created"}, **responses(409)},
    summary="Create or replace a layout, live at once: the templates extending it send with it",
)
async def put_layout(
    body: LayoutIn, app: AppDep, services: ServicesDep, response: Response, key: str = Key
) -> LayoutOut:
    async with unit_of_work(services.sessions) as uow:
        layout, created = await service.put_layout(uow, app.app_id, key, body, actor(app))
        out = service.to_out(layout)
    response.status_code = 201 if created else 200
    return out


@router.get("/{key}", response_model=LayoutOut, responses=responses(404), summary="The live version")
async def get_layout(app: AppDep, services: ServicesDep, key: str = Key) -> LayoutOut:
    async with unit_of_work(services.sessions) as uow:
        return service.to_out(await service.get_layout(uow, app.app_id, key))


@router.put(
    "/{key}/draft",
    response_model=LayoutVersionOut,
    responses={201: {"model": LayoutVersionOut, "description": "The draft was made"}, **responses(409)},
    summary="Make or replace the draft",
)
async def put_draft(
    body: LayoutIn, app: AppDep, services: ServicesDep, response: Response, key: str = Key
) -> LayoutVersionOut:
    async with unit_of_work(services.sessions) as uow:
        v, created = await service.save_draft(uow, app.app_id, key, body, actor(app))
        out = service.version_out(v)
    response.status_code = 201 if created else 200
    return out


@router.delete("/{key}/draft", status_code=204, responses=responses(404, 409), summary="Discard the draft")
async def delete_draft(app: AppDep, services: ServicesDep, key: str = Key) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.discard_draft(uow, app.app_id, key)
    return Response(status_code=204)


@router.post(
    "/{key}/publish",
    response_model=LayoutOut,
    responses=responses(404, 409),
    summary="The draft goes live, in every live template that extends it",
)
async def publish(app: AppDep, services: ServicesDep, key: str = Key) -> LayoutOut:
    async with unit_of_work(services.sessions) as uow:
        return service.to_out(await service.publish(uow, app.app_id, key, actor(app)))


@router.get("/{key}/versions", response_model=list[VersionInfo], responses=responses(404), summary="History")
async def list_versions(app: AppDep, services: ServicesDep, key: str = Key) -> list[VersionInfo]:
    async with unit_of_work(services.sessions) as uow:
        return await service.history(uow, app.app_id, key)


@router.get("/{key}/versions/{number}", response_model=LayoutVersionOut, responses=responses(404))
async def get_version(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number) -> LayoutVersionOut:
    async with unit_of_work(services.sessions) as uow:
        return service.version_out(await service.version_of(uow, app.app_id, key, number))


@router.get("/{key}/versions/{number}/diff/{other}", response_model=DiffOut, responses=responses(404))
async def diff(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number, other: int = Other) -> DiffOut:
    async with unit_of_work(services.sessions) as uow:
        return await service.diff(uow, app.app_id, key, number, other)


@router.post(
    "/{key}/versions/{number}/restore",
    response_model=LayoutVersionOut,
    responses=responses(404, 409),
    summary="Version `number`'s html as the draft",
)
async def restore(app: AppDep, services: ServicesDep, key: str = Key, number: int = Number) -> LayoutVersionOut:
    async with unit_of_work(services.sessions) as uow:
        return service.version_out(await service.restore(uow, app.app_id, key, number, actor(app)))
