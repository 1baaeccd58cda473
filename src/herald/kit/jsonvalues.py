"""Free-form JSON that every layer can carry: bounded depth, numbers within 64 bits.

A caller's free-form object (notification `data`, user `attributes`, provider `config`) is
stored as JSON on both backends, cached and queued as orjson, and rendered into templates.
orjson serialises integers only within 64 bits and nests at most 254 levels. PostgreSQL's
JSONB keeps every number as an exact decimal and gives it back without an exponent, so a
float such as 1e300 is read back as a 301-digit integer, which orjson then cannot write (the
contact cache, a worker): floats are held to the same range as integers. A value past any
of these limits is refused when it arrives (a 422 naming the field), not left to fail later
as a 500 or in a worker.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# Deep enough for any real payload, far below orjson's 254 and Python's recursion limit.
MAX_DEPTH = 32
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


def problem(value: object, depth: int = 1) -> tuple[list[str | int], str] | None:
    """Where `value` (parsed JSON) breaks a bound, and how; None when it is within all of them."""
    items: list[tuple[str | int, object]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return _scalar_problem(value)
    if depth > MAX_DEPTH:
        return [], f"nested deeper than {MAX_DEPTH} levels"
    for key, item in items:
        found = problem(item, depth + 1)
        if found is not None:
            return [key, *found[0]], found[1]
    return None


def _scalar_problem(value: object) -> tuple[list[str | int], str] | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return [], "number is not finite"
        return None if INT_MIN <= value <= INT_MAX else ([], "number outside the signed 64-bit range")
    return [], f"{type(value).__name__} is not a JSON value"


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    found = problem(value)
    if found is not None:
        path, message = found
        where = ".".join(str(p) for p in path)
        raise PydanticCustomError("json_bounds", "{message}", {"message": f"{where}: {message}" if where else message})
    return value


JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_bounded),
    Field(
        description=f"Any JSON object, nested at most {MAX_DEPTH} levels deep, "
        "with every number within the signed 64-bit range"
    ),
]
"""A free-form JSON object within the bounds above, for a pydantic field."""
