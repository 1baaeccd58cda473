"""Who may use an embedded (SQLite) database file: one `herald run`, or any number of others.

`herald run` on SQLite is the whole service in one process, and its recovery after a crash
relies on that: every delivery left `sending` must be its dead predecessor's, so it can be
re-driven at once instead of after the lease. An advisory lock next to the database file
makes that true: `herald run` holds it exclusively, the separate processes (`herald api`,
`worker`, `relay`, `scheduler`) share it, and the kernel drops it when a process dies,
SIGKILL included. One-off commands (`migrate`, `apps`, `dlq`) take no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock, and no lease shortcut either
    fcntl = None  # type: ignore[assignment]

from herald.kit.db import is_sqlite

# Held for the life of the process: closing the descriptor would release the lock.
_held: dict[Path, int] = {}


class DatabaseInUse(Exception):
    """Another Herald process holds this embedded database in a way that excludes this one."""


def lock_path(database_url: str) -> Path | None:
    """The lock file of an embedded database, or None for a server database (or in memory)."""
    if not is_sqlite(database_url):
        return None
    db = database_url.split("///", 1)[-1]
    if not db or db == ":memory:":
        return None
    return Path(db).resolve().with_name(Path(db).name + ".lock")


def hold(database_url: str, *, exclusive: bool) -> bool:
    """Take the database's lock for this process; True if it is now held, False where there
    is nothing to lock. Raises DatabaseInUse if another process holds it incompatibly."""
    path = lock_path(database_url)
    if path is None or fcntl is None:
        return False
    if path in _held:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = "another Herald process" if exclusive else "a `herald run`"
        raise DatabaseInUse(f"{holder} is using {path.with_suffix('')}; stop it first") from None
    _held[path] = fd
    return True


def release(database_url: str) -> None:
    """Give the lock back (tests; a process simply exits)."""
    path = lock_path(database_url)
    fd = _held.pop(path, None) if path is not None else None
    if fd is not None:
        os.close(fd)
