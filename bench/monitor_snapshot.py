"""What a queue snapshot costs on a big log: `python -m bench.monitor_snapshot --rows 1000000`.

Builds a scratch PostgreSQL database with the migrations, writes `--rows` deliveries (all but
`--backlog` of them settled, as in a log that has run for a while; a few thousand dead), then
times `Monitor.snapshot()` and prints PostgreSQL's plans (EXPLAIN ANALYZE) for its counts.
The snapshot's cost follows the backlog and the dead letters, not the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg

from herald.config import MonitorSettings
from herald.kit.clock import utcnow
from herald.kit.db import make_engine, make_sessionmaker
from herald.migrations import upgrade
from herald.monitoring import repository
from herald.monitoring.service import Monitor
from herald.notifications.models import DeliveryState
from herald.queue.embedded import EmbeddedQueue

ADMIN = os.environ.get("HERALD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

_APP = """
INSERT INTO apps (id, name, key_id, secret_hash, active, development, allowed_origins, created_at, updated_at)
VALUES ($1, 'bench', 'hk_bench_' || substr(md5(random()::text), 1, 12), 'x', true, false, '[]', now(), now())
"""
_NOTIFICATION = """
INSERT INTO notifications (id, app_id, event_id, data, critical, created_at)
VALUES ($1, $2, 'bench', '{}', false, now())
"""

_DELIVERIES = """
INSERT INTO deliveries (id, app_id, notification_id, channel, state, attempts, unknowns, replays,
                        retry_base, available_at, lease_until, created_at, updated_at)
SELECT gen_random_uuid(), $1, $2, (ARRAY['email', 'sms', 'push'])[1 + i % 3],
       CASE WHEN i <= $4 THEN (ARRAY['queued', 'queued', 'scheduled', 'sending'])[1 + i % 4]
            WHEN i <= $4 + $5 THEN 'dead' ELSE 'delivered' END,
       0, 0, 0, 0,
       now() - (i % 600) * interval '1 second' + CASE WHEN i % 8 = 0 THEN interval '1 hour' ELSE interval '0' END,
       CASE WHEN i <= $4 AND i % 4 = 3 THEN now() + interval '1 minute' END, now(), now()
FROM generate_series(1, $3) AS i
"""


async def _build(name: str, rows: int, backlog: int, dead: int) -> None:
    conn = await asyncpg.connect(ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = ADMIN.rsplit("/", 1)[0]
    await asyncio.to_thread(upgrade, f"{url.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}")
    db = await asyncpg.connect(f"{url}/{name}")
    app, n = uuid.uuid4(), uuid.uuid4()
    await db.execute(_APP, app)
    await db.execute(_NOTIFICATION, n, app)
    await db.execute(_DELIVERIES, app, n, rows, backlog, dead)
    await db.execute("VACUUM ANALYZE deliveries")
    await db.close()


async def main(rows: int, backlog: int, dead: int, keep: bool) -> None:
    name = f"herald_bench_monitor_{os.getpid()}"
    t0 = time.perf_counter()
    await _build(name, rows, backlog, dead)
    print(f"built {rows:,} deliveries ({backlog:,} unsettled, {dead:,} dead) in {time.perf_counter() - t0:.1f} s")
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    engine = make_engine(url)
    monitor = Monitor(make_sessionmaker(engine), EmbeddedQueue(), MonitorSettings())
    try:
        await monitor.snapshot()  # warm: connections, prepared statements
        times = []
        for _ in range(10):
            t = time.perf_counter()
            snap = await monitor.snapshot()
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"snapshot: median {times[5] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms over 10")
        for q in snap.queues:
            print(f"  {q}")
        async with engine.connect() as conn:
            for stmt in (
                repository.waiting(utcnow()),
                repository.in_state(DeliveryState.SENDING),
                repository.in_state(DeliveryState.DEAD),
            ):
                compiled = stmt.compile(dialect=conn.dialect)
                params = tuple(compiled.params[k] for k in compiled.positiontup or [])
                plan = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", params)
                print("\n".join(r[0] for r in plan.all()), end="\n\n")
    finally:
        await engine.dispose()
        if not keep:
            conn = await asyncpg.connect(ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--dead", type=int, default=5_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    a = parser.parse_args()
    asyncio.run(main(a.rows, a.backlog, a.dead, a.keep))
