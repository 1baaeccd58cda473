"""The plans of the statements a query runs (EXPLAIN ANALYZE), for the benches that show which
indexes their reads use and how many rows they read (`bench.activity`, `bench.analytics`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from herald.kit.uow import UnitOfWork, unit_of_work

Run = Callable[[UnitOfWork], Awaitable[Any]]


async def explained(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], run: Run) -> dict[str, Any]:
    """Run the query once, capturing its statements, then EXPLAIN ANALYZE each SELECT: its
    scans, the rows they read, and the statements' execution time."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with unit_of_work(sessions) as uow:
            await run(uow)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    scans: list[dict[str, Any]] = []
    execution_ms = 0.0
    async with engine.connect() as conn:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            raw = await conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            [plan] = raw.scalar_one()
            execution_ms += plan["Execution Time"]
            _scans(plan["Plan"], scans)
    return {"execution_ms": round(execution_ms, 2), "scans": scans}


def _scans(node: dict[str, Any], out: list[dict[str, Any]]) -> None:
    if "Scan" in node["Node Type"] and "Relation Name" in node:
        on = node.get("Index Name", node["Relation Name"])
        rows = node["Actual Rows"] * node.get("Actual Loops", 1)
        out.append({"scan": node["Node Type"], "on": on, "rows": rows, "heap_fetches": node.get("Heap Fetches")})
    for child in node.get("Plans", []):
        _scans(child, out)
