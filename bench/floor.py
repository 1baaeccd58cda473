"""The raw floor: client CPU of the bare operations a delivery cannot avoid, measured in-process.

- one PostgreSQL row write: alone (its own transaction) and amortised (100 rows per
  multi-row INSERT ... unnest, one transaction), with asyncpg;
- one Redis stream add + read + ack, pipelined 100 at a time, with redis-py (Herald's client);
- one provider request: HTTP/2 to the APNs simulator through Herald's own transport
  (`ApnsAdapter`, apns_transport.py), and HTTP/1.1 to the Twilio simulator with bare aiohttp.

Only the client side is counted (this process's CPU), as only Herald's processes are counted
on the other side: PostgreSQL's and Redis's own CPU appear in neither.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from bench.cluster import Postgres, SandboxProcess

Op = Callable[[int], Awaitable[int]]  # runs one round, returns how many operations it did


async def _measure(name: str, op: Op, budget: float, rounds: int) -> dict[str, Any]:
    """Repeat `op` up to `rounds` times or `budget` seconds: CPU and wall time per operation."""
    await op(0)  # warm: connections, prepared statements, TLS, tokens
    cpu0, wall0, count = time.process_time(), time.perf_counter(), 0
    for i in range(1, rounds + 1):
        count += await op(i)
        if time.perf_counter() - wall0 > budget:
            break
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if count == 0:
        raise RuntimeError(f"{name}: no operation succeeded")
    return {"op": name, "n": count, "cpu_us": cpu / count * 1e6, "wall_us": wall / count * 1e6}


async def _postgres(pg: Postgres, budget: float) -> list[dict[str, Any]]:
    url = (await pg.create_database(f"bench_floor_{uuid.uuid4().hex[:8]}")).replace("+asyncpg", "", 1)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE floor_rows (id uuid PRIMARY KEY, state text, created_at timestamptz)")
        single = "INSERT INTO floor_rows VALUES ($1, $2, now())"
        many = "INSERT INTO floor_rows SELECT i, s, now() FROM unnest($1::uuid[], $2::text[]) AS t(i, s)"

        async def one(_: int) -> int:
            await conn.execute(single, uuid.uuid4(), "queued")
            return 1

        async def batch(_: int) -> int:
            ids = [uuid.uuid4() for _ in range(100)]
            await conn.execute(many, ids, ["queued"] * 100)
            return 100

        return [
            await _measure("pg_row_write_single", one, budget, 2000),
            await _measure("pg_row_write_batched100", batch, budget, 200),
        ]
    finally:
        await conn.close()


async def _redis(url: str, budget: float) -> dict[str, Any]:
    client = aioredis.Redis.from_url(url)
    stream = f"bench-floor-{uuid.uuid4().hex[:8]}"
    try:
        await client.xgroup_create(stream, "g", id="0", mkstream=True)

        async def roundtrip(_: int) -> int:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(100):
                    pipe.xadd(stream, {"d": uuid.uuid4().hex}, maxlen=100_000, approximate=True)
                await pipe.execute()
            got: list[Any] = await client.xreadgroup("g", "c", {stream: ">"}, count=100)  # type: ignore[assignment]
            ids = [eid for _, entries in got for eid, _ in entries]
            await client.xack(stream, "g", *ids)
            return len(ids)

        return await _measure("redis_xadd_xreadgroup_xack_pipelined100", roundtrip, budget, 500)
    finally:
        await client.delete(stream)
        await client.aclose()


async def _apns(sandbox: SandboxProcess, budget: float) -> dict[str, Any]:
    """On a stock asyncio loop in a thread: Herald's h2 transport asserts an asyncio.Transport,
    which uvloop's TLS transport is not (see the bench report), and the bench runs on uvloop.
    The thread's CPU is this process's CPU, and the main loop idles meanwhile."""
    return await asyncio.to_thread(asyncio.run, _apns_on_stock_loop(sandbox, budget))


async def _apns_on_stock_loop(sandbox: SandboxProcess, budget: float, concurrency: int = 100) -> dict[str, Any]:
    from herald.providers.apns import ApnsAdapter, ApnsConfig
    from herald.providers.messages import PushMessage

    config = ApnsConfig.model_validate(json.loads(sandbox.env["HERALD_PROVIDERS"])["apns"])
    adapter = ApnsAdapter(config)
    token = "ab" * 32

    async def burst(_: int) -> int:
        messages = [PushMessage(uuid.uuid4().hex, "ios", token, "Floor", "floor") for _ in range(concurrency)]
        outcomes = await asyncio.gather(*(adapter.send(m) for m in messages))
        return sum(1 for o in outcomes if type(o).__name__ == "Delivered")

    try:
        return await _measure("http2_apns_request (Herald ApnsAdapter)", burst, budget, 50)
    finally:
        await adapter.close()


async def _http1(sandbox: SandboxProcess, budget: float, concurrency: int = 100) -> dict[str, Any]:
    twilio = json.loads(sandbox.env["HERALD_PROVIDERS"])["twilio"]
    url = f"{twilio['base_url'].rstrip('/')}/2010-04-01/Accounts/{twilio['account_sid']}/Messages.json"
    auth = aiohttp.BasicAuth(twilio["account_sid"], twilio["auth_token"])
    form = {"To": "+14155550100", "From": twilio["from_number"], "Body": "floor"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), auth=auth) as session:

        async def post() -> bool:
            async with session.post(url, data=form) as resp:
                await resp.read()
                return resp.status == 201

        async def burst(_: int) -> int:
            return sum(await asyncio.gather(*(post() for _ in range(concurrency))))

        return await _measure("http1_twilio_request (aiohttp)", burst, budget, 50)


async def _guarded(name: str, measured: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A floor operation that may fail on a Herald bug: recorded as its error, not fatal."""
    try:
        return await measured
    except Exception as exc:
        return {"op": name, "error": f"{type(exc).__name__}: {exc}"}


def floor_per_delivery(ops: dict[str, dict[str, Any]], h2_share: float) -> dict[str, float]:
    """One row write + one stream add/read + one provider request, in client CPU µs.

    `batched` uses the amortised row write (Herald writes in batches); `unbatched` a row
    write in its own transaction. The provider request is weighted by the mix: iOS push
    over HTTP/2, everything else over HTTP/1.1 (SMTP is approximated by HTTP/1.1).
    """
    http2 = ops["http2"].get("cpu_us")
    if http2 is None:  # the HTTP/2 path failed (see its error): count every request as HTTP/1.1
        h2_share, http2 = 0.0, 0.0
    provider = h2_share * http2 + (1 - h2_share) * ops["http1"]["cpu_us"]
    redis = ops["redis"]["cpu_us"]
    return {
        "batched_us": ops["pg_batched"]["cpu_us"] + redis + provider,
        "unbatched_us": ops["pg_single"]["cpu_us"] + redis + provider,
        "provider_us": provider,
    }


async def measure_floor(
    pg: Postgres, redis_url: str, sandbox: SandboxProcess, *, budget: float, h2_share: float
) -> dict[str, Any]:
    """Every floor operation, each for about `budget` seconds, one after another (no overlap)."""
    single, batched = await _postgres(pg, budget)
    ops = {
        "pg_single": single,
        "pg_batched": batched,
        "redis": await _redis(redis_url, budget),
        "http2": await _guarded("http2_apns_request (Herald ApnsAdapter)", _apns(sandbox, budget)),
        "http1": await _http1(sandbox, budget),
    }
    return {"ops": ops, "per_delivery": floor_per_delivery(ops, h2_share), "h2_share": h2_share}
