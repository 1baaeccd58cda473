"""A statement written for many rows at once through the driver's executemany, rows as tuples.

SQLAlchemy's executemany builds a dictionary of every row's parameters and runs each value
through its processors in its general machinery, and with RETURNING it first rewrites the batch
into multi-row VALUES. On the embedded hot path (the intake's notifications and deliveries, the
recorder's attempts and outcomes, the rollups' staging) that machinery cost more of the event
loop than SQLite's own work on the rows: measured on a batch of 50 notifications and their
deliveries, 70 µs of the event loop's CPU per notification, against 38 µs so.

A `Bulk` is compiled once per backend: its SQL, and for each of its parameters in the SQL's
order, the caller's column it takes and that column type's own bind processor (so the values
stored are the ones SQLAlchemy would store), or the constant the statement itself binds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Insert, Update
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Per parameter in the SQL's order: the row's index (or -1: `constant`), its processor.
    plan: tuple[tuple[int, Processor | None, Any], ...]


class Bulk:
    """`statement` for rows given as tuples of `names`' values (in that order)."""

    def __init__(self, statement: Insert | Update, names: Sequence[str]) -> None:
        self.statement = statement
        self.names = tuple(names)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        keys = list(self.names) if isinstance(self.statement, Insert) else None
        compiled = self.statement.compile(dialect=dialect, column_keys=keys)
        if compiled.insert_prefetch or compiled.update_prefetch:
            # A default computed in Python at execution (not in SQL) would need SQLAlchemy's own path.
            missing = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise ValueError(f"columns with Python-side defaults must be given: {missing}")
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}'s parameters are not positional")
        plan = []
        for key in compiled.positiontup:
            bind = compiled.binds[key]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if key in self.names:
                plan.append((self.names.index(key), process, None))
            elif bind.callable is None and not bind.required:
                plan.append((-1, None, bind.value if process is None else process(bind.value)))
            else:
                raise ValueError(f"parameter {key!r} is neither a column given nor a constant")
        found = self._compiled[dialect.name] = _Compiled(compiled.string, tuple(plan))
        return found

    def parameters(self, dialect: Dialect, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Each row as the driver takes it: in the SQL's order, each value processed."""
        plan = self._compile(dialect).plan
        return [
            tuple([value if i < 0 else row[i] if process is None else process(row[i]) for i, process, value in plan])
            for row in rows
        ]

    async def run(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> int:
        """Write `rows` (none: nothing is sent); the rows the statement changed, summed, as
        SQLite counts them. asyncpg's executemany counts nothing: -1 there, DB-API's "unknown"."""
        if not rows:
            return 0
        sql = self._compile(conn.dialect).sql
        result = await conn.exec_driver_sql(sql, self.parameters(conn.dialect, rows))
        return result.rowcount
