"""HTTP for users and devices."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Response

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.uow import unit_of_work
from herald.recipients import repository, service
from herald.recipients.models import Device, User
from herald.recipients.schemas import DeviceIn, DeviceOut, UserIn, UserOut

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=JsonRoute, responses=responses(*AUTHENTICATED))
UserId = Path(min_length=1, max_length=200)


def device_out(d: Device) -> DeviceOut:
    return DeviceOut(
        id=d.id,
        platform=d.platform,
        token=d.token,
        active=d.active,
        retired_reason=d.retired_reason,
        last_seen=d.last_seen,
        created_at=d.created_at,
    )


def user_out(u: User, devices: list[Device]) -> UserOut:
    return UserOut(
        user_id=u.user_id,
        name=u.name,
        email=u.email,
        phone=u.phone,
        locale=u.locale,
        timezone=u.timezone,
        attributes=u.attributes,
        devices=[device_out(d) for d in devices],
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


@router.put(
    "/{user_id}",
    response_model=UserOut,
    responses={201: {"model": UserOut, "description": "The user was created"}, **responses(409)},
    summary="Create or replace a user",
)
async def put_user(
    body: UserIn, app: AppDep, services: ServicesDep, response: Response, user_id: str = UserId
) -> UserOut:
    async with unit_of_work(services.sessions) as uow:
        user, created = await service.upsert_user(uow, services.cache, app.app_id, user_id, body)
        devices = await repository.list_devices(uow.session, app.app_id, user_id)
    response.status_code = 201 if created else 200
    return user_out(user, devices)


@router.get("/{user_id}", response_model=UserOut, responses=responses(404))
async def get_user(app: AppDep, services: ServicesDep, user_id: str = UserId) -> UserOut:
    async with unit_of_work(services.sessions) as uow:
        user = await service.require_user(uow, app.app_id, user_id)
        devices = await repository.list_devices(uow.session, app.app_id, user_id)
    return user_out(user, devices)


@router.delete(
    "/{user_id}", status_code=204, responses=responses(404, 409), summary="Delete a user and erase their contact data"
)
async def delete_user(app: AppDep, services: ServicesDep, user_id: str = UserId) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.delete_user(uow, services.cache, app.app_id, user_id)
    return Response(status_code=204)


@router.post(
    "/{user_id}/devices",
    response_model=DeviceOut,
    status_code=201,
    responses={200: {"model": DeviceOut, "description": "The device was already registered"}, **responses(404, 409)},
    summary="Register a push device",
)
async def add_device(
    body: DeviceIn, app: AppDep, services: ServicesDep, response: Response, user_id: str = UserId
) -> DeviceOut:
    async with unit_of_work(services.sessions) as uow:
        device, created = await service.register_device(uow, services.cache, app.app_id, user_id, body, services.egress)
    response.status_code = 201 if created else 200
    return device_out(device)


@router.delete("/{user_id}/devices/{device_id}", status_code=204, responses=responses(404, 409))
async def delete_device(device_id: uuid.UUID, app: AppDep, services: ServicesDep, user_id: str = UserId) -> Response:
    async with unit_of_work(services.sessions) as uow:
        await service.remove_device(uow, services.cache, app.app_id, user_id, device_id)
    return Response(status_code=204)
