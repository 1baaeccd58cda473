"""Database plumbing shared by every domain: the declarative base, column types, engines.

The same models and migrations serve SQLite (embedded default) and PostgreSQL (production).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ARRAY, JSON, ColumnElement, DateTime, Dialect, MetaData, Table, Uuid, any_, bindparam, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from herald.kit import sqlite_driver

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Every table of Herald."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JsonType, uuid.UUID: Uuid()}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones and compares timestamps as text, so values are stored there as
    naive UTC in one format; PostgreSQL keeps `timestamptz`. Either way Python sees aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _read_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, straight to the stored text: SQLAlchemy's chain (this type's
        `process_bind_param`, then its SQLite `DATETIME`'s `%`-formatting of seven fields) cost
        2.4 µs more a value, and a delivery binds about ten on its way (measured: 3% of the
        embedded process's event loop)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (its zone would be a guess)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _read_utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC: naive ones (SQLite's) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    """SQLite's stored form, which SQLAlchemy's `DATETIME` writes and reads: naive UTC,
    `YYYY-MM-DD HH:MM:SS.ffffff` (microseconds always, so that text order is time order)."""
    return None if value is None else _utc(value).isoformat(" ", "microseconds")[:26]


def _sqlite_datetime(value: str | None) -> datetime | None:
    return None if value is None else _read_utc(datetime.fromisoformat(value))


def is_outage(exc: BaseException) -> bool:
    """The database itself is away or saturated (every statement would fail alike), as opposed
    to an error one statement's own data caused (bad bytes, a broken constraint)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _json_text(value: object) -> str:
    """JSON columns' text, by orjson: a tenth of `json.dumps`'s time (a delivery writes its
    notification's data and reads it, its content and its template back). Every free-form value
    is held within orjson's bounds where it arrives (`kit.jsonvalues`). Datetimes still refuse,
    as with `json.dumps`, instead of quietly becoming text; keys that are not strings (an int)
    are written as strings, as `json.dumps` writes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME).decode()


_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# PostgreSQL sessions for statements that address rows by their keys (`keyed_engine`).
_KEYED_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}


def make_engine(url: str, *, pool_size: int = 10, readonly: bool = False, keyed: bool = False) -> AsyncEngine:
    """An async engine tuned for its backend (`keyed`: see `keyed_engine`).

    On SQLite, write engines open every transaction with BEGIN IMMEDIATE; `readonly` engines
    keep deferred transactions, so the send path's reads never queue behind the writer (and a
    read nested inside a write cannot deadlock on the write lock).

    A SQLite write engine holds one connection. SQLite has one writer at a time anyway, and
    writers of one process that race for its lock wait in SQLite's busy handler, which sleeps
    (up to 100 ms a turn) instead of being woken: measured, the embedded default's intake,
    claims and recorder spent 164 ms per transaction waiting so, with the lock often free.
    Queued for the pool's one connection, the next writer starts the moment the last is done.
    """
    if is_sqlite(url):
        pool: dict[str, Any] = {} if readonly else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        if "+aiosqlite" in url:  # a statement per trip to SQLite's thread (kit.sqlite_driver)
            pool["module"] = sqlite_driver.dbapi()
        engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON_CODEC, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_deferred if readonly else _sqlite_begin_immediate)
        return engine
    # Custom plans only: asyncpg prepares every statement, and a generic plan chosen while a
    # table was still empty (a new deployment's first minutes) stays cached on that connection.
    # Measured: the intake's dedup lookup by (app_id, event_id) settled on the (app_id,
    # user_id) index, scanning every row of the app, 90 ms a call at 30k rows. Planning
    # each time costs tens of microseconds.
    asyncpg = "+asyncpg" in url
    settings = _KEYED_SETTINGS if keyed else {"plan_cache_mode": "force_custom_plan"}
    connect_args = {"server_settings": settings} if asyncpg else {}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=not asyncpg,
        connect_args=connect_args,
        **_JSON_CODEC,
    )
    if asyncpg:
        # SQLAlchemy's pre-ping is BEGIN, ";" and ROLLBACK: three round trips per checkout,
        # measured as a large share of PostgreSQL's CPU per delivery. asyncpg notices a
        # server-side close (a restart, a terminated backend) on its own, so a checkout only
        # has to look at the connection's state; a dead one is replaced before use.
        event.listen(engine.sync_engine.pool, "checkout", _drop_closed_asyncpg)
        # Plain executemany INSERTs (deliveries, outbox, attempts) become multi-row VALUES
        # statements instead of one server-side execution per row.
        engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def keyed_engine(url: str, *, pool_size: int) -> AsyncEngine:
    """PostgreSQL: a pool of its own, without transactions, for the hot path's batch statements,
    which pick every row they touch by a key (the intake's insert, the workers' lease and
    load, the recorder's outcomes): each is planned once per connection, and never by a scan.

    Custom plans (the other engines') are planned at every execution. These statements are
    large (unnest of a dozen arrays, data-modifying CTEs, the rollups' staging), and planning
    them cost PostgreSQL 0.04 ms of CPU per delivery, about as much as executing the
    recorder's. A generic plan is made once, from the table as it is then, maybe empty, and
    kept until the table's statistics change; with sequential scans off, a plan made on an
    empty table still walks the keys' indexes (tests/production/test_explain.py checks each
    statement's generic plan on empty tables).
    """
    return autocommit(make_engine(url, pool_size=pool_size, keyed=True))


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without transactions: for work that is one statement (a read, a lease).

    Each transaction on asyncpg costs a BEGIN and a COMMIT (or ROLLBACK) round trip of its
    own; a claim (lease, load, suppressions) paid five of them around four statements. A
    single statement is atomic by itself.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _drop_closed_asyncpg(dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    if dbapi_conn._connection.is_closed():
        raise DisconnectionError("connection closed by the server")


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run beside the single writer; NORMAL sync is durable across process
    # crashes (only an OS crash can lose the last transactions), which is what WAL is for.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
    # taking the write lock up front makes busy_timeout apply and claims serialise cleanly.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: the caller owns the commit, services only flush."""
    async with sessions() as session, session.begin():
        yield session


def in_list(column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column IN :name`, written so that any list length is one SQL text.

    An expanded IN renders a new statement per list length, which SQLAlchemy compiles and
    asyncpg prepares (a round trip) again for each; `= ANY(array)` is prepared once.
    """
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def column_arrays(rows: Sequence[Mapping[str, Any]], names: Iterable[str], prefix: str = "") -> dict[str, list[Any]]:
    """Rows as one list per column, each named `prefix + column`: the parameters of a statement
    that unnests arrays (`unnest_arrays`), one parameter set whatever the batch's size."""
    return {prefix + n: [r[n] for r in rows] for n in names}


def tuple_arrays(rows: Sequence[Sequence[Any]], names: Sequence[str], prefix: str = "") -> dict[str, list[Any]]:
    """`column_arrays` for rows given as tuples in `names`' order."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return {prefix + n: list(c) for n, c in zip(names, columns, strict=True)}


def unnest_arrays(columns: Iterable[tuple[str, str]], prefix: str = "") -> str:
    """`CAST(:name AS type[]), ...` for PostgreSQL's `unnest(...)` over (column, SQL type) pairs:
    a batch as one array per column, encoded by the driver, in a statement prepared once."""
    return ", ".join(f"CAST(:{prefix}{name} AS {sql}[])" for name, sql in columns)


def dialect_name(on: AsyncSession | AsyncConnection) -> str:
    """The backend a session or connection talks to: "postgresql" or "sqlite"."""
    return (on.dialect if isinstance(on, AsyncConnection) else on.get_bind().dialect).name


def upsert_insert(on: AsyncSession | AsyncConnection, model: type[Base] | Table) -> Any:
    """An INSERT that supports ON CONFLICT, in the dialect of the session's or connection's backend."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect_name(on) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
