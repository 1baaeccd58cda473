"""HTTP for provider callbacks: `/v1/callbacks/{provider}` for the deployment's account of that
provider, `/v1/callbacks/{provider}/{integration id}` for an app's own.

No app credentials: the provider's signature is the authority, checked against the account's
own secret (an auth token, a signature secret, a public key) before anything is read. The
URL a provider signs is the one it was given, so behind a proxy `HERALD_API__PUBLIC_URL`
must say where the world reaches Herald.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from herald.api.errors import responses
from herald.api.routing import JsonRoute
from herald.callbacks.receipts import Callback
from herald.callbacks.service import CallbackDesk

PREFIX = "/v1/callbacks/"
router = APIRouter(
    prefix=PREFIX.rstrip("/"),
    tags=["callbacks"],
    route_class=JsonRoute,
    responses=responses(403, 404, 413, 422, 431, 503),
)


class CallbackOut(BaseModel):
    received: int  # events in the callback that name one of Herald's deliveries


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL as the provider called it: its public base, this path, the query as sent."""
    if not public_url:
        return str(request.url)
    query = request.url.query
    return public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def receive_callback(request: Request, kind: str, account: uuid.UUID | None) -> Response:
    """The answer is written here, not through the response model (which validates and encodes
    it again): providers post these by the thousand a second, one event each for some. The
    routes below and `callbacks.door` (which takes most callbacks before the routing) both
    answer with it."""
    desk: CallbackDesk = request.app.state.callbacks
    callback = Callback(
        signed_url(request, request.app.state.services.settings.api.public_url),
        await request.body(),
        request.headers,
        request.query_params,
    )
    received = await desk.receive(kind, account, callback)
    return Response(b'{"received":%d}' % received, media_type="application/json")


@router.post("/{provider}", response_model=CallbackOut, summary="A callback from the deployment's own provider account")
async def deployment_callback(request: Request, provider: str) -> Response:
    return await receive_callback(request, provider, None)


@router.post(
    "/{provider}/{account}", response_model=CallbackOut, summary="A callback from an app's own account (integration id)"
)
async def app_callback(request: Request, provider: str, account: uuid.UUID) -> Response:
    return await receive_callback(request, provider, account)


@router.get("/{provider}", response_model=CallbackOut, summary="A receipt sent as a GET (Vonage), deployment's account")
async def deployment_receipt(request: Request, provider: str) -> Response:
    return await receive_callback(request, provider, None)


@router.get("/{provider}/{account}", response_model=CallbackOut, summary="A receipt sent as a GET, an app's account")
async def app_receipt(request: Request, provider: str, account: uuid.UUID) -> Response:
    return await receive_callback(request, provider, account)


@router.head("/{provider}", include_in_schema=False)
@router.head("/{provider}/{account}", include_in_schema=False)
async def reachable() -> Response:
    """Mailchimp checks a webhook URL with a HEAD before it saves it."""
    return Response(status_code=200)
