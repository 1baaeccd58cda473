"""Private PostgreSQL and Redis servers (ours to restart), or the machine's shared ones.

The chaos run restarts its engines mid-run, which must disturb nothing else on the machine:
each private server listens on a free loopback port and keeps its data in its own directory.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from bench.procs import Proc, free_port, run_command

# Private data directories whose server may still run: stopped at exit.
_LIVE_PGDATA: set[Path] = set()


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"{name} not found on PATH nor under /usr/lib/postgresql/*/bin")


def missing_engines() -> list[str]:
    """The server binaries that private PostgreSQL/Redis instances need and this machine lacks."""
    missing = []
    for name in ("initdb", "pg_ctl"):
        try:
            _pg_bin(name)
        except FileNotFoundError:
            missing.append(name)
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` OS user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _stop_leftovers() -> None:
    for data in list(_LIVE_PGDATA):
        with contextlib.suppress(Exception):
            subprocess.run(
                _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                timeout=30,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(data.parent, ignore_errors=True)


atexit.register(_stop_leftovers)


class Postgres:
    """A PostgreSQL server: a private one (ours to restart) or the machine's shared one."""

    def __init__(self, url: str, *, base: Path | None = None) -> None:
        self.url = url
        self._base = base  # a private server's directory: data/, sock/, server.log
        self._created: list[str] = []

    @classmethod
    async def private(cls, workdir: Path) -> Postgres:
        """initdb + pg_ctl start on a free loopback port, with fsync on (honest numbers)."""
        workdir.mkdir(parents=True, exist_ok=True)
        # A root-only workdir (pytest's tmp_path) is not traversable by `postgres`: use /tmp.
        base = Path(tempfile.mkdtemp(prefix="herald-pg-"))
        (base / "sock").mkdir()
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            for p in (base, base / "sock"):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        with contextlib.suppress(OSError):
            (workdir / "postgres").symlink_to(base)
        log = workdir / "postgres-setup.log"
        data = base / "data"
        cmd = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]
        await run_command(_as_postgres([*cmd, "--no-sync"]), 120, log)
        port = free_port()
        conf = (
            f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{base / 'sock'}'\n"
            "max_connections = 400\nshared_buffers = 256MB\nfsync = on\nsynchronous_commit = on\n"
        )
        with (data / "postgresql.conf").open("a") as f:
            f.write(conf)
        pg = cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", base=base)
        _LIVE_PGDATA.add(data)
        await pg._pg_ctl("start", "-l", str(base / "server.log"))
        await pg._ping()
        return pg

    @classmethod
    def shared(cls, url: str = "postgresql://postgres@127.0.0.1:5432/postgres") -> Postgres:
        """The machine's own server: never restarted, only our databases are dropped at stop."""
        return cls(url)

    async def _pg_ctl(self, *args: str) -> None:
        assert self._base is not None, "only a private server can be controlled"
        cmd = [_pg_bin("pg_ctl"), "-D", str(self._base / "data"), "-w", "-t", "60", *args]
        await run_command(_as_postgres(cmd), 90, self._base / "pg_ctl.log")

    async def _ping(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=5)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def create_database(self, name: str) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self._created.append(name)
        base = self.url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    async def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, committed data survives."""
        assert self._base is not None, "only a private server can be restarted"
        await self._pg_ctl("restart", "-m", "fast", "-l", str(self._base / "server.log"))
        await self._ping()

    async def stop(self) -> None:
        if self._base is None:
            await self._drop_created()
            return
        with contextlib.suppress(RuntimeError):
            await self._pg_ctl("stop", "-m", "fast")
        _LIVE_PGDATA.discard(self._base / "data")
        shutil.rmtree(self._base, ignore_errors=True)

    async def _drop_created(self) -> None:
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            for name in self._created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self._created.clear()


class Redis:
    """A Redis server: a private, non-persistent one (ours to restart) or the shared one."""

    def __init__(self, url: str, proc: Proc | None = None) -> None:
        self.url = url
        self._proc = proc

    @classmethod
    async def private(cls, workdir: Path) -> Redis:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(workdir), "--maxclients", "2000"]
        proc = Proc("redis", args, dict(os.environ), workdir / "redis.log")
        r = cls(f"redis://127.0.0.1:{port}/0", proc)
        await proc.start()
        await r._ping()
        return r

    @classmethod
    def shared(cls, url: str = "redis://127.0.0.1:6379/0") -> Redis:
        return cls(url)

    async def _ping(self, timeout: float = 20.0) -> None:
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    await client.ping()
                    return
                except (OSError, aioredis.RedisError):
                    if time.monotonic() > deadline or (self._proc is not None and not self._proc.alive()):
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    async def restart(self) -> None:
        """Stop and start again on the same port: with no persistence, every key is gone."""
        assert self._proc is not None, "only a private server can be restarted"
        await self._proc.terminate(signal.SIGTERM, timeout=10)
        self._proc = Proc("redis", self._proc.args, self._proc.env, self._proc.log)
        await self._proc.start()
        await self._ping()

    async def stop(self) -> None:
        if self._proc is not None:
            await self._proc.terminate(signal.SIGTERM, timeout=10)
