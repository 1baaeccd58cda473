"""Body and header limits, proven on a real uvicorn server with raw HTTP/1.1 over loopback.

An in-process client always sends a Content-Length; only a socket can send a chunked body
that never declares its size, which is what a limit that trusts the header would miss.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
import uvicorn
from sqlalchemy import func, select

from herald.api.app import create_app
from herald.apps.service import create_app as create_client_app
from herald.kit.db import transaction
from herald.recipients.models import User
from herald.runtime import Runtime


@dataclass(frozen=True)
class Server:
    port: int
    authorization: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def code(self) -> str:
        return str(orjson.loads(self.body)["error"]["code"])


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[Server]:
    async with transaction(runtime.sessions) as session:
        creds = await create_client_app(session, "limits", runtime.pepper)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # httptools, as `herald api` runs it.
    config = uvicorn.Config(create_app(runtime.api_services()), http="httptools", lifespan="off", log_level="warning")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    token = base64.b64encode(f"{creds.key}:{creds.secret}".encode()).decode()
    yield Server(sock.getsockname()[1], f"Basic {token}")
    uv.should_exit = True
    await task


async def exchange(port: int, head: bytes, chunks: list[bytes] = []) -> Answer:  # noqa: B006
    """Send a request head and body chunks as they are, then read the answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed while the body was still being sent
    raw = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split()[1]), headers, body)


def put_user(server: Server, *extra: str) -> bytes:
    lines = [
        "PUT /v1/users/chunky HTTP/1.1",
        "Host: herald.test",
        f"Authorization: {server.authorization}",
        "Content-Type: application/json",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(payload: bytes, size: int = 64 * 1024) -> list[bytes]:
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    return [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]


async def users(runtime: Runtime) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(User)) or 0)


async def test_chunked_body_over_the_limit_is_413_without_a_length(server: Server, runtime: Runtime) -> None:
    limit = runtime.settings.api.max_body_bytes
    payload = orjson.dumps({"name": "x" * (limit + 100_000)})
    answer = await exchange(server.port, put_user(server, "Transfer-Encoding: chunked"), chunked(payload))
    assert answer.status == 413 and answer.code() == "payload_too_large"
    assert answer.headers["content-type"] == "application/json"
    assert await users(runtime) == 0


async def test_chunked_body_under_the_limit_reaches_the_route(server: Server, runtime: Runtime) -> None:
    payload = orjson.dumps({"name": "Chunky", "attributes": {"pad": "x" * 200_000}})
    answer = await exchange(server.port, put_user(server, "Transfer-Encoding: chunked"), chunked(payload))
    assert answer.status == 201, answer.body[:300]
    assert orjson.loads(answer.body)["name"] == "Chunky"
    assert await users(runtime) == 1


async def test_declared_length_over_the_limit_is_413_before_any_body(server: Server, runtime: Runtime) -> None:
    too_long = runtime.settings.api.max_body_bytes + 1
    # A client that waits for "100 Continue" gets the 413 instead, and never sends the body.
    answer = await exchange(server.port, put_user(server, f"Content-Length: {too_long}", "Expect: 100-continue"))
    assert answer.status == 413 and answer.code() == "payload_too_large"
    assert answer.headers.get("connection") == "close"
    # One that sends it at once has it read and dropped, so the 413 is not lost to a reset.
    payload = b"x" * too_long
    answer = await exchange(server.port, put_user(server, f"Content-Length: {too_long}"), [payload])
    assert answer.status == 413 and answer.code() == "payload_too_large"
    assert await users(runtime) == 0


async def test_too_many_headers_or_header_bytes_are_431(server: Server, runtime: Runtime) -> None:
    api = runtime.settings.api
    many = [f"X-Filler-{i}: v" for i in range(api.max_header_count)]
    answer = await exchange(server.port, put_user(server, *many, "Content-Length: 2"), [b"{}"])
    assert answer.status == 431 and answer.code() == "headers_too_large"
    huge = f"X-Big: {'a' * api.max_header_bytes}"
    answer = await exchange(server.port, put_user(server, huge, "Content-Length: 2"), [b"{}"])
    assert answer.status == 431 and answer.code() == "headers_too_large"
    normal = await exchange(server.port, put_user(server, "X-Small: 1", "Content-Length: 2"), [b"{}"])
    assert normal.status == 201
