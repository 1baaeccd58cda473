"""The baseline's Celery app, its database tables and its settings (all from BASELINE_* variables).

The baseline keeps its own database (same PostgreSQL server as Herald) and its own Redis key
prefix, so both systems can share the servers without seeing each other's data.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    create_engine,
)
from sqlalchemy.dialects.postgresql import JSONB

QUEUE = "deliveries"

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("user_id", String(200), primary_key=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("phone", String(20)),
    Column("locale", String(35)),
)
devices = Table(
    "devices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", String(200), ForeignKey("users.user_id"), index=True),
    Column("platform", String(16)),
    Column("token", Text),
)
templates = Table(
    "templates",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("content", JSONB),
)
notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", String(200), unique=True),
    Column("user_id", String(200)),
    Column("template", String(200)),
    Column("data", JSONB),
    Column("created_at", DateTime(timezone=True)),
)
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("notification_id", Uuid, ForeignKey("notifications.id"), index=True),
    Column("channel", String(16)),
    Column("device_id", Uuid),
    Column("state", String(16)),
    Column("attempts", Integer, default=0),
    Column("provider", String(32)),
    Column("provider_message_id", String(200)),
    Column("reason", String(200)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)
attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", Uuid, ForeignKey("deliveries.id"), index=True),
    Column("provider", String(32)),
    Column("outcome", String(16)),
    Column("code", String(64)),
    Column("started_at", DateTime(timezone=True)),
    Column("duration_ms", Integer),
)


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"BASELINE_{name}", default)
    if value is None:
        raise RuntimeError(f"BASELINE_{name} is not set")
    return value


@cache
def engine() -> Engine:
    """One pooled engine per process; sized for the thread pool that shares it."""
    size = int(env("DB_POOL", "16"))
    return create_engine(env("DATABASE_URL"), pool_size=size, max_overflow=size, pool_pre_ping=False)


@cache
def providers() -> dict[str, Any]:
    """The simulators' credentials, the same JSON Herald reads from HERALD_PROVIDERS."""
    loaded: dict[str, Any] = json.loads(env("PROVIDERS"))
    return loaded


celery = Celery(
    "baseline", broker=env("BROKER_URL", "redis://127.0.0.1:6379/0"), include=["bench.baseline_celery.tasks"]
)
celery.conf.update(
    task_default_queue=QUEUE,
    # At-least-once, like Herald: a task is acknowledged only after it ran.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=int(env("PREFETCH", "4")),
    worker_disable_rate_limits=True,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
    broker_pool_limit=int(env("BROKER_POOL", "32")),
    broker_connection_retry_on_startup=True,
    broker_transport_options={"global_keyprefix": env("PREFIX", "bench-celery:"), "visibility_timeout": 3600},
)


@worker_ready.connect  # type: ignore[untyped-decorator]  # celery ships no types
def _announce_ready(**_: Any) -> None:
    """Tell the bench this worker consumes now (its logs stay at WARNING, so no ready line)."""
    path = os.environ.get("BASELINE_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))
