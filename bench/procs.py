"""Started commands as process groups: bounded waits, group-wide signals, cleanup at exit.

Every process started here runs in its own session, so a signal reaches the children it
forks too (`herald api --workers N`), and whatever is still alive when the interpreter exits
is killed then.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
# Started and not yet terminated: killed at exit.
_LIVE: set[Proc] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out as the local end of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A TCP port that nothing on loopback is bound to right now, outside the ephemeral range.

    The port is chosen here and bound later by another process, sometimes seconds later (the
    chaos run starts the simulators in between, which must know the API's URL). A port from
    `bind(0)` lies in the ephemeral range, so any outgoing connection on the machine (another
    test's, under pytest-xdist) could take it as its local end meanwhile, and the server then
    fails to start: CI saw `herald run` exit with uvicorn's startup failure that way. Ports
    below the range are never taken by a connect; two callers meet only by drawing the same
    random number while neither has bound yet.
    """
    low, high = _ephemeral_range()
    spans = [(lo, hi) for lo, hi in ((10000, low - 1), (high + 1, 65535)) if hi - lo >= 1000]
    for _ in range(100 if spans else 0):
        port = random.randint(*spans[0])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything tried was taken: the kernel's choice, as before
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        proc.send(signal.SIGKILL)


atexit.register(_kill_leftovers)


async def run_command(cmd: list[str], timeout: float, log: Path) -> None:
    """Run a setup command to completion, its output appended to `log`; raise if it fails."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            rc = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{cmd[0]} timed out after {timeout}s; see {log}") from None
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}; see {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pids() -> Iterator[str]:
    """Every live process id, as /proc lists them."""
    return (entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit())


def stat_fields(pid: str) -> list[str] | None:
    """/proc/PID/stat fields from `state` on (the command name may hold spaces), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _group_stats(pgid: int) -> list[list[str]]:
    """/proc/PID/stat fields (from `state` on) of every live process in a process group."""
    return [f for pid in pids() if (f := stat_fields(pid)) is not None and int(f[2]) == pgid]


class Proc:
    """One started command in its own process group (so `--workers N` children die with it)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, ready_url: str | None = None):
        self.name = name
        self.args = args
        self.env = env
        self.log = log
        self.ready_url = ready_url
        self.metrics_url: str | None = None  # where it serves Prometheus metrics, if it does
        self.pid = 0
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self._proc = await asyncio.create_subprocess_exec(
                *self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._proc.pid
        _LIVE.add(self)
        if self.ready_url is not None:
            await self.wait_ready(self.ready_url)

    async def wait_ready(self, url: str, timeout: float = 90.0) -> None:
        """Poll `url` until it answers 200; fail early (with the log) if the process dies."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited during startup; log {self.log}:\n{tail(self.log)}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s at {url}; log {self.log}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    def forget(self) -> None:
        """A process that exited on its own needs no killing at exit."""
        _LIVE.discard(self)

    def send(self, sig: int) -> None:
        """Signal the whole process group, as long as it is still ours.

        Until we reap the leader its pid cannot be reused, and a process group id is not
        reused while any member lives; once both are gone the id may name someone else's group.
        """
        if self._proc is None or (self._proc.returncode is not None and not _group_stats(self.pid)):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def wait(self, timeout: float) -> bool:
        """True if the process exited within `timeout` seconds."""
        if self._proc is None:
            return True
        try:
            await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Signal, wait, and SIGKILL the group if it has not exited in time."""
        self.send(sig)
        if not await self.wait(timeout):
            self.send(signal.SIGKILL)
            await self.wait(10.0)
        self.send(signal.SIGKILL)  # children of a leader that exited on its own
        _LIVE.discard(self)

    def cpu_seconds(self) -> float:
        """utime + stime of every live process of the group (API workers included)."""
        return sum(int(f[11]) + int(f[12]) for f in _group_stats(self.pid)) / _CLK_TCK

    def rss_bytes(self) -> int:
        """Resident memory summed over the group."""
        return sum(int(f[21]) * _PAGE for f in _group_stats(self.pid))
