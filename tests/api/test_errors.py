"""The one error mapping: database trouble is never a 500, and never looks like an acceptance."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from herald.api.errors import install


def _app() -> FastAPI:
    app = FastAPI()
    install(app)

    @app.put("/race")
    async def race() -> None:
        raise IntegrityError("INSERT INTO users", {}, Exception("duplicate key value"))

    @app.post("/busy")
    async def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    return app


async def test_uniqueness_race_is_a_409_and_pool_exhaustion_a_503() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as client:
        race = await client.put("/race")
        assert race.status_code == 409 and race.json()["error"]["code"] == "conflict"
        busy = await client.post("/busy")
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "overloaded"
        assert busy.headers["retry-after"] == "1"
