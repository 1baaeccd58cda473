"""SQLAlchemy's aiosqlite adapter, each statement in one trip to SQLite's thread.

aiosqlite runs a connection's calls on a thread of its own, one call per trip: the caller
queues it, the thread runs it and wakes the event loop with the result. SQLAlchemy's adapter
makes four trips per statement (open a cursor, execute, fetch the rows, close the cursor), and
each trip costs the event loop a wake-up, a task step and greenlet switches. Measured: a
transaction of BEGIN, INSERT, SELECT and COMMIT took 683 µs of CPU so, and 460 µs in one trip
per statement; the embedded bench at 700 deliveries/s, 10% less CPU per delivery
(bench/results/issue22-s30).

This cursor makes one: the statement runs whole in the thread (cursor, execute, every row,
close) and comes back with its rows, description, rowcount and last row id. The rows were
fetched at once before too (a buffered cursor); server-side cursors keep SQLAlchemy's own.
The adapter relies on aiosqlite's `Connection._execute` (run a function in the connection's
thread), which aiosqlite's own methods are made of; `aiosqlite` is pinned.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _statement(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In SQLite's thread: the statement run and read to the end."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _statements(conn: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> list[int]:
    """In SQLite's thread: each statement run for each of its rows; each statement's rowcount."""
    counts = []
    for operation, rows in statements:
        cursor = conn.cursor()
        try:
            cursor.executemany(operation, rows)
            counts.append(cursor.rowcount)
        finally:
            cursor.close()
    return counts


async def write_many(conn: AsyncConnection, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> list[int]:
    """Several writes, each for its rows of driver-ready parameters, in one trip to SQLite's
    thread and within `conn`'s transaction; each one's rowcount.

    For a transaction that holds the write lock across several statements (the analytics fold):
    each trip waits its turn on a busy event loop (measured: 3-4 ms each flat out), and every
    other writer waits for the lock meanwhile."""
    fairy = await conn.get_raw_connection()
    adapted = fairy.dbapi_connection
    if not isinstance(adapted, OneTripConnection):  # every SQLite engine is `kit.db.make_engine`'s
        raise TypeError(f"write_many wants this module's connection, not {type(adapted).__name__}")
    connection = adapted._connection
    async with adapted._execute_mutex:
        counts: list[int] = await connection._execute(_statements, connection._conn, statements)
    return counts


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one trip; it holds no aiosqlite cursor."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # the base class's close() then has nothing to close
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # DB-API: None before any insert

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the rows are all here and SQLite's cursor is already closed

    def execute(self, operation: Any, parameters: Any = None) -> None:
        try:
            await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        try:
            await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(_statement, connection._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows or ())


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneTripCursor


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """What `create_async_engine(..., module=...)` takes for the aiosqlite dialect."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDbapi:
    import aiosqlite

    return OneTripDbapi(aiosqlite, sqlite3)
