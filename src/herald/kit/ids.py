"""Time-ordered identifiers, so primary keys double as stable pagination cursors."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """An RFC 9562 version 7 UUID: 48 bits of milliseconds, then randomness.

    Python 3.11 has no uuid7; ordering by id equals ordering by creation time, which keyset
    pagination and index locality both rely on.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
