"""HTTP for an app's provider accounts. Credentials are write-only."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.integrations import service
from herald.integrations.schemas import IntegrationIn, IntegrationOut
from herald.kit.uow import unit_of_work

router = APIRouter(
    prefix="/v1/integrations", tags=["integrations"], route_class=JsonRoute, responses=responses(*AUTHENTICATED)
)
# The name is what attempts and deliveries record as their provider (a 32-character column).
Name = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")


@router.get("", response_model=list[IntegrationOut])
async def list_integrations(app: AppDep, services: ServicesDep) -> list[IntegrationOut]:
    async with unit_of_work(services.sessions) as uow:
        return [
            service.present(i, services.vault, services.settings.api.public_url)
            for i in await service.list_all(uow, app.app_id)
        ]


@router.put(
    "/{name}",
    response_model=IntegrationOut,
    responses={201: {"model": IntegrationOut, "description": "The integration was created"}, **responses(409)},
    summary="Create or replace a provider account",
)
async def put_integration(
    body: IntegrationIn, app: AppDep, services: ServicesDep, response: Response, name: str = Name
) -> IntegrationOut:
    async with unit_of_work(services.sessions) as uow:
        i, created = await service.put(uow, services.vault, app.app_id, name, body, services.egress)
    services.forget_accounts(app.app_id)
    response.status_code = 201 if created else 200
    return service.present(i, services.vault, services.settings.api.public_url)


@router.get("/{name}", response_model=IntegrationOut, responses=responses(404))
async def get_integration(app: AppDep, services: ServicesDep, name: str = Name) -> IntegrationOut:
    async with unit_of_work(services.sessions) as uow:
        return service.present(
            await service.get(uow, app.app_id, name), services.vault, services.settings.api.public_url
        )


@router.delete("/{name}", status_code=204, responses=responses(404, 409))
async def delete_integration(app: AppDep, services: ServicesDep, name: str = Name) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete(uow, app.app_id, name)
    services.forget_accounts(app.app_id)
    return Response(status_code=204)
