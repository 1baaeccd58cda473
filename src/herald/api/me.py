"""The end user's own routes, under /v1/me: called from an app's web pages with a token the
app minted, for the caller's own data only. The in-app feed joins here."""

from __future__ import annotations

from fastapi import APIRouter

from herald.api.deps import EndUserDep
from herald.api.errors import END_USER, responses
from herald.api.routing import JsonRoute
from herald.api.schemas import MeOut

router = APIRouter(prefix="/v1/me", tags=["end users"], route_class=JsonRoute, responses=responses(*END_USER))


@router.get("", response_model=MeOut, summary="Who the token says you are")
async def me(user: EndUserDep) -> MeOut:
    return MeOut(app=user.app_key, user_id=user.user_id, expires_at=user.expires_at)
