"""Time-ordered identifiers, so primary keys double as stable pagination cursors."""

from __future__ import annotations

import os
import threading
import time
import uuid

from herald.kit.errors import ValidationFailed

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Randomness is drawn from the OS in blocks: a getrandom() system call per id was a tenth
# of the API's CPU for a batch (it is slow inside a busy VM). The bytes are the same
# urandom bytes, each used once; a forked child starts with a block of its own.
_BLOCK = 4096
_pool = b""
_pos = _BLOCK


def _reset_pool() -> None:
    global _pool, _pos
    _pool, _pos = b"", _BLOCK


os.register_at_fork(after_in_child=_reset_pool)


def uuid7() -> uuid.UUID:
    """An RFC 9562 version 7 UUID, monotonic within this process.

    48 bits of milliseconds, then a 12-bit counter for ids made in the same millisecond
    (RFC 9562 method 1), then randomness. Python 3.11 has no uuid7; ordering by id equals
    ordering by creation, which keyset pagination and index locality rely on.
    """
    global _last_ms, _seq, _pool, _pos
    with _lock:
        if _pos >= _BLOCK:
            _pool, _pos = os.urandom(_BLOCK), 0
        rand = int.from_bytes(_pool[_pos : _pos + 8], "big") & ((1 << 62) - 1)
        _pos += 8
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:
                _last_ms, _seq = _last_ms + 1, 0
            ms = _last_ms
        else:
            _last_ms, _seq = ms, 0
        seq = _seq
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)


def parse_cursor(cursor: str | None) -> uuid.UUID | None:
    """A page cursor as a client sends it back (the hex of the last id it saw); None: the
    first page. Anything else is a 422 on the `cursor` field, not a 500."""
    if not cursor:
        return None
    try:
        return uuid.UUID(hex=cursor)
    except ValueError as exc:
        raise ValidationFailed("invalid cursor", field="cursor") from exc
