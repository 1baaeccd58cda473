"""HTTP for what an app manages of itself: its end-user key, its settings, tokens for its users.

The key and the tokens are secrets: their answers are never stored by a cache on the way.
A change here reaches this process's authentication at once, and the others' within
`HERALD_API__AUTH_CACHE`.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Path, Request, Response

from herald.api.deps import AppDep, ServicesDep, get_authenticator
from herald.api.errors import AUTHENTICATED, responses
from herald.api.routing import JsonRoute
from herald.api.services import ApiServices
from herald.api.subjects import AppCaller
from herald.apps import service
from herald.apps.schemas import AppSettingsDoc, EndUserKeyOut, RotateIn, TokenIn, TokenOut
from herald.apps.tokens import MAX_LIFETIME, USER_ID_MAX
from herald.config import Mode
from herald.kit.uow import unit_of_work

router = APIRouter(prefix="/v1", tags=["app"], route_class=JsonRoute, responses=responses(*AUTHENTICATED))
UserId = Path(min_length=1, max_length=USER_ID_MAX)


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


def _key_out(key: service.EndUserKey) -> EndUserKeyOut:
    return EndUserKeyOut(
        key=key.key,
        issuer=key.issuer,
        max_lifetime_seconds=int(MAX_LIFETIME.total_seconds()),
        previous_key_valid_until=key.previous_valid_until,
    )


async def _end_user_key(app: AppCaller, services: ApiServices, request: Request) -> service.EndUserKey:
    async with unit_of_work(services.sessions) as uow:
        key = await service.end_user_key(uow.session, services.vault, app.app_id)
    if key.made_now:
        get_authenticator(request).forget_app(app.key)
    return key


@router.get("/end-user-key", response_model=EndUserKeyOut, summary="The key your backend signs end-user tokens with")
async def get_end_user_key(app: AppDep, services: ServicesDep, request: Request, response: Response) -> EndUserKeyOut:
    key = await _end_user_key(app, services, request)
    _no_store(response)
    return _key_out(key)


@router.post(
    "/end-user-key/rotate",
    response_model=EndUserKeyOut,
    responses=responses(409),
    summary="A new end-user key; tokens signed with the current one work for the overlap",
)
async def rotate_end_user_key(
    app: AppDep, services: ServicesDep, request: Request, response: Response, body: RotateIn | None = None
) -> EndUserKeyOut:
    overlap = timedelta(seconds=(body or RotateIn()).overlap_seconds)
    async with unit_of_work(services.sessions) as uow:
        key = await service.rotate_end_user_key(uow.session, services.vault, app.app_id, overlap)
    get_authenticator(request).forget_app(app.key)
    _no_store(response)
    return _key_out(key)


@router.post(
    "/users/{user_id}/token",
    response_model=TokenOut,
    responses=responses(409),
    summary="Mint an end-user token for one of your users (or mint it yourself with the end-user key)",
)
async def mint_token(
    app: AppDep,
    services: ServicesDep,
    request: Request,
    response: Response,
    body: TokenIn | None = None,
    user_id: str = UserId,
) -> TokenOut:
    ttl = timedelta(seconds=(body or TokenIn()).ttl_seconds)
    token, expires_at = service.mint_token(await _end_user_key(app, services, request), user_id, ttl)
    _no_store(response)
    return TokenOut(token=token, expires_at=expires_at)


@router.get("/app/settings", response_model=AppSettingsDoc, summary="What your app has set for itself")
async def get_settings(app: AppDep, services: ServicesDep) -> AppSettingsDoc:
    async with unit_of_work(services.sessions) as uow:
        return await service.get_settings(uow.session, app.app_id)


@router.put(
    "/app/settings",
    response_model=AppSettingsDoc,
    responses=responses(409),
    summary="Replace your app's settings: the web origins its end users may call from, its preference page",
)
async def put_settings(app: AppDep, services: ServicesDep, request: Request, body: AppSettingsDoc) -> AppSettingsDoc:
    local_http = services.settings.mode is Mode.DEVELOPMENT
    async with unit_of_work(services.sessions) as uow:
        saved = await service.set_settings(uow.session, app.app_id, body, local_http=local_http)
    get_authenticator(request).forget_app(app.key)
    return saved
