"""Numbers and timestamps that both backends can store, for pydantic fields at the edge.

A value past what SQLite or PostgreSQL holds fails inside the database, after validation,
as a 500. Bounding it in the schema turns it into a 422 that names the field, and tells a
client the range in the OpenAPI document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

# PostgreSQL's `integer` is 32-bit (SQLite's would hold 64).
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""An integer for an `Integer` column."""


def _in_utc(value: datetime) -> datetime:
    # Python's datetime ends at year 1 and 9999: 0001-01-01T00:00+14:00 or 9999-12-31T23:00-14:00
    # is a valid instant to parse but has no UTC form, which every column stores.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "timestamp_range", "timestamp out of range: it must fall between years 1 and 9999 in UTC"
        ) from None


Timestamp = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A timezone-aware instant (an offset is required), normalised to UTC."""
