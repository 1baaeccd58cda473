"""HTTP for templates: product people edit these, no deploy needed."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.uow import unit_of_work
from herald.templates import service
from herald.templates.schemas import TemplateIn, TemplateOut

router = APIRouter(
    prefix="/v1/templates", tags=["templates"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)
Key = Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")


@router.get("", response_model=list[TemplateOut])
async def list_templates(app: AppDep, services: ServicesDep) -> list[TemplateOut]:
    async with unit_of_work(services.sessions) as uow:
        return [service.to_out(t) for t in await service.list_templates(uow, app.app_id)]


@router.put(
    "/{key}",
    response_model=TemplateOut,
    responses={201: {"model": TemplateOut, "description": "The template was created"}, **responses(409)},
    summary="Create or replace a template",
)
async def put_template(
    body: TemplateIn, app: AppDep, services: ServicesDep, response: Response, key: str = Key
) -> TemplateOut:
    async with unit_of_work(services.sessions) as uow:
        t, created = await service.put_template(uow, app.app_id, key, body)
    response.status_code = 201 if created else 200
    return service.to_out(t)


@router.get("/{key}", response_model=TemplateOut, responses=responses(404))
async def get_template(app: AppDep, services: ServicesDep, key: str = Key) -> TemplateOut:
    async with unit_of_work(services.sessions) as uow:
        return service.to_out(await service.get_template(uow, app.app_id, key))


@router.delete("/{key}", status_code=204, responses=responses(404, 409))
async def delete_template(app: AppDep, services: ServicesDep, key: str = Key) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete_template(uow, app.app_id, key)
    return Response(status_code=204)
