"""HTTP for a user's preferences."""

from __future__ import annotations

from fastapi import APIRouter, Path

from herald.api.deps import AppDep, ServicesDep
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.kit.uow import unit_of_work
from herald.preferences import service
from herald.preferences.schemas import PreferencesDoc

router = APIRouter(prefix="/v1/users", tags=["preferences"], route_class=JsonRoute, responses=responses(*AUTHENTICATED))
UserId = Path(min_length=1, max_length=200)


@router.get("/{user_id}/preferences", response_model=PreferencesDoc, responses=responses(404))
async def get_preferences(app: AppDep, services: ServicesDep, user_id: str = UserId) -> PreferencesDoc:
    async with unit_of_work(services.sessions) as uow:
        return await service.get_preferences(uow, app.app_id, user_id)


@router.put(
    "/{user_id}/preferences",
    response_model=PreferencesDoc,
    responses=responses(404, 409),
    summary="Replace a user's opt-outs",
)
async def put_preferences(
    body: PreferencesDoc, app: AppDep, services: ServicesDep, user_id: str = UserId
) -> PreferencesDoc:
    async with unit_of_work(services.sessions) as uow:
        return await service.replace_preferences(uow, services.cache, app.app_id, user_id, body)
