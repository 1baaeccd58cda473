"""Free-form JSON and timestamps at the edge: what both backends and orjson can carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from herald.kit.bounds import Int32, Timestamp
from herald.kit.jsonvalues import MAX_DEPTH, JsonObject, problem


def test_problem_names_the_path_and_the_limit() -> None:
    assert problem({"a": [1, 2.5, None, True, "x", {"b": -(2**63)}]}) is None
    assert problem({"a": [0, {"b": 2**63}]}) == (["a", 1, "b"], "number outside the signed 64-bit range")
    assert problem({"f": float("nan")}) == (["f"], "number is not finite")
    assert problem({"f": -1e19}) == (["f"], "number outside the signed 64-bit range")
    assert problem({"t": (1, 2)}) == (["t"], "tuple is not a JSON value")
    deep: object = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert problem(deep) is None
    found = problem([deep])
    assert found is not None and found[1] == f"nested deeper than {MAX_DEPTH} levels"


def test_json_object_refuses_with_the_inner_path_in_the_message() -> None:
    adapter = TypeAdapter(JsonObject)
    assert adapter.validate_python({"n": 2**63 - 1}) == {"n": 2**63 - 1}
    with pytest.raises(ValidationError, match=r"order\.total: number outside"):
        adapter.validate_python({"order": {"total": 2**64}})


@pytest.mark.parametrize("offset", [14, -14])
def test_a_timestamp_without_a_utc_form_is_a_validation_error(offset: int) -> None:
    edge = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=offset)))
    if offset < 0:
        edge = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=offset)))
    with pytest.raises(ValidationError, match="timestamp out of range"):
        TypeAdapter(Timestamp).validate_python(edge)


def test_a_timestamp_is_normalised_to_utc_and_needs_an_offset() -> None:
    paris = TypeAdapter(Timestamp).validate_python("2026-06-01T12:00:00+02:00")
    assert paris == datetime(2026, 6, 1, 10, tzinfo=UTC) and paris.tzinfo is UTC
    with pytest.raises(ValidationError):
        TypeAdapter(Timestamp).validate_python("2026-06-01T12:00:00")


def test_int32_is_what_a_postgresql_integer_holds() -> None:
    adapter = TypeAdapter(Int32)
    assert adapter.validate_python(2**31 - 1) == 2**31 - 1
    for outside in (2**31, -(2**31) - 1):
        with pytest.raises(ValidationError):
            adapter.validate_python(outside)
