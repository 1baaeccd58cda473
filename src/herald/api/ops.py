"""Operations endpoints: health for load balancers, metrics for Prometheus (never public).

`/metrics` tells anyone who can read it how busy each channel and provider is; it is served
only to a scraper presenting `HERALD_METRICS__TOKEN` as a bearer token, and not at all when
no token is configured (the other processes serve theirs on a loopback-bound port instead).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from herald import __version__
from herald.api import errors
from herald.api.deps import ServicesDep
from herald.kit.errors import NotFound, Unauthenticated

router = APIRouter(tags=["ops"])


class MetricsOff(NotFound):
    """Metrics are not served on this port: set HERALD_METRICS__TOKEN to scrape them here."""

    code = "not_found"


@router.get("/health", responses=errors.responses(413, 431))
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> Response:
    token = services.settings.metrics.token
    if token is None:
        raise MetricsOff()
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("a bearer token (HERALD_METRICS__TOKEN) is required")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
