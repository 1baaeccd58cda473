"""Password hashing: argon2id through pwdlib, off the event loop (a hash costs tens of
milliseconds of CPU, which would stall every other request of the process)."""

from __future__ import annotations

import asyncio
import functools
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from herald.console.errors import WeakPassword

MIN_LENGTH = 12
# argon2 hashes any length, but a megabyte "password" is a way to burn CPU, not a password.
MAX_LENGTH = 256

_hasher = PasswordHash((Argon2Hasher(),))


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters", field="password")


async def hash_password(password: str) -> str:
    check_strength(password)
    return await asyncio.to_thread(_hasher.hash, password)


@functools.cache
def _decoy() -> str:
    """A hash no password is known to match: an unknown email is checked against it, so that
    it costs the same time as a known one."""
    return _hasher.hash(secrets.token_urlsafe(32))


async def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; None (no such user) verifies against the decoy and
    is always False."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]  # still hashed, so that the answer takes as long
    ok = await asyncio.to_thread(lambda: _hasher.verify(password, stored or _decoy()))
    return ok and stored is not None


def new_password() -> str:
    """A random password for a sandbox owner (about 130 bits)."""
    return secrets.token_urlsafe(22)
