"""HTTP for provider callbacks: `/v1/callbacks/{provider}` for the deployment's account of that
provider, `/v1/callbacks/{provider}/{integration id}` for an app's own.

No app credentials: the provider's signature is the authority, checked against the account's
own secret (an auth token, a signature secret, a public key) before anything is read. The
URL a provider signs is the one it was given, so behind a proxy `HERALD_API__PUBLIC_URL`
must say where the world reaches Herald.
"""

from __future__ import annotations

import re
import uuid

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from herald.api.errors import responses
from herald.api.routing import JsonRoute
from herald.callbacks.receipts import Callback, query_of
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


# A Host header that is a plain name or IPv4 address with at most a port: the URL is then
# written here as Starlette would (`request.url`), without building its URL object, which
# cost a twentieth of the API's CPU per Twilio receipt. Anything else goes through Starlette.
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]+(?::(?P<port>[0-9]{1,5}))?")


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL as the provider called it: its public base, this path, the query as sent."""
    scope = request.scope
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = scope.get("query_string", b"").decode()
    tail = f"{path}?{query}" if query else path
    if public_url:
        return public_url.rstrip("/") + tail
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    plain = _PLAIN_HOST.fullmatch(host.decode("latin-1")) if host is not None else None
    if plain is None or int(plain["port"] or 0) > 65535:
        return str(request.url)
    return f"{scope.get('scheme', 'http')}://{plain[0]}{tail}"


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
        query_of(request.scope.get("query_string", b"")),
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
