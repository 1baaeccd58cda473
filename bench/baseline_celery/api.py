"""The baseline's HTTP intake: validate, plan one delivery per channel x destination, commit,
then enqueue one Celery task per delivery.

Plain `def` endpoints, as most Celery shops write them: FastAPI runs them in its thread pool,
with a pooled synchronous engine and Celery's producer pool. The response mirrors Herald's
(`id`, `created_at`, `deliveries[].id`) so the load driver reads both the same way.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from bench.baseline_celery.app import celery, deliveries, devices, engine, env, notifications, templates, users
from bench.baseline_celery.tasks import send_delivery

Channel = Literal["email", "sms", "push"]
app = FastAPI(title="Celery baseline")
_basic = HTTPBasic()


class NotificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=200)
    user_id: str = Field(min_length=1, max_length=200)
    template: str = Field(max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    channels: list[Channel] | None = Field(default=None, min_length=1)


class BatchIn(BaseModel):
    notifications: list[NotificationIn] = Field(min_length=1, max_length=1000)


def authenticated(creds: Annotated[HTTPBasicCredentials, Depends(_basic)]) -> None:
    ok_key = secrets.compare_digest(creds.username, env("API_KEY"))
    ok_secret = secrets.compare_digest(creds.password, env("API_SECRET"))
    if not (ok_key and ok_secret):
        raise HTTPException(401, "unauthenticated")


def _channels_of(template_key: str, conn: Connection, cache: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if template_key not in cache:
        content = conn.execute(select(templates.c.content).where(templates.c.key == template_key)).scalar()
        if content is None:
            return None
        cache[template_key] = content
    return cache[template_key]


_templates: dict[str, dict[str, Any]] = {}


def _plan(conn: Connection, items: list[NotificationIn]) -> list[dict[str, Any]]:
    """Insert the notifications and their deliveries; one result per item, in order."""
    ids = sorted({i.user_id for i in items})
    known = set(conn.execute(select(users.c.user_id).where(users.c.user_id.in_(ids))).scalars())
    owned: dict[str, list[uuid.UUID]] = {}
    for dev_id, user_id in conn.execute(select(devices.c.id, devices.c.user_id).where(devices.c.user_id.in_(ids))):
        owned.setdefault(user_id, []).append(dev_id)
    now = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    planned: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for item in items:
        content = _channels_of(item.template, conn, _templates)
        if item.user_id not in known or content is None:
            results.append({"status": 404, "error": "user_not_found" if content else "template_not_found"})
            continue
        nid = uuid.uuid4()
        row = {"id": nid, "event_id": item.event_id, "user_id": item.user_id, "template": item.template}
        rows.append({**row, "data": item.data, "created_at": now})
        dels = []
        for channel in item.channels or [c for c in ("email", "sms", "push") if c in content]:
            for device in owned.get(item.user_id, []) if channel == "push" else [None]:
                dels.append(
                    {"id": uuid.uuid4(), "notification_id": nid, "channel": channel, "device_id": device}
                    | {"state": "queued", "attempts": 0, "created_at": now, "updated_at": now}
                )
        result = {"status": 202, "id": str(nid), "created_at": now.isoformat(), "deliveries": dels}
        results.append(result)
        planned.append((result, dels))
    if rows:
        stmt = insert(notifications).on_conflict_do_nothing(index_elements=["event_id"]).returning(notifications.c.id)
        created = set(conn.execute(stmt, rows).scalars())
        fresh = [d for result, dels in planned if uuid.UUID(str(result["id"])) in created for d in dels]
        for result, _ in planned:
            if uuid.UUID(str(result["id"])) not in created:
                result.update(status=200, deliveries=[])
        if fresh:
            conn.execute(deliveries.insert(), fresh)
    return results


def _enqueue(results: list[dict[str, Any]]) -> None:
    """After the commit, one task per delivery, through one pooled producer."""
    with celery.producer_or_acquire() as producer:
        for r in results:
            for d in r.get("deliveries", []):
                send_delivery.apply_async((d["id"].hex,), producer=producer)


def _public(r: dict[str, Any]) -> dict[str, Any]:
    """Herald's NotificationOut, reduced to what a caller needs."""
    dels = [{"id": str(d["id"]), "channel": d["channel"]} for d in r["deliveries"]]
    return {"id": r["id"], "created_at": r["created_at"], "deliveries": dels}


def _item(index: int, r: dict[str, Any]) -> dict[str, Any]:
    if "deliveries" not in r:
        return {"index": index, "status": r["status"], "error": {"code": r["error"]}}
    return {"index": index, "status": r["status"], "notification": _public(r)}


@app.post("/v1/notifications", status_code=202, dependencies=[Depends(authenticated)])
def create(body: NotificationIn, response: Response) -> dict[str, Any]:
    with engine().begin() as conn:
        [result] = _plan(conn, [body])
    _enqueue([result])
    if "deliveries" not in result:
        raise HTTPException(404, result["error"])
    response.status_code = result["status"]
    return _public(result)


@app.post("/v1/notifications/batch", dependencies=[Depends(authenticated)])
def create_batch(body: BatchIn) -> dict[str, Any]:
    with engine().begin() as conn:
        results = _plan(conn, body.notifications)
    _enqueue(results)
    items = [_item(i, r) for i, r in enumerate(results)]
    return {"accepted": sum(1 for r in results if r["status"] == 202), "results": items}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
