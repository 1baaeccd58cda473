"""`herald dlq --since`: a time too far back is a clear error, not a traceback."""

from __future__ import annotations

import pytest
import typer

from herald.cli.dlq import parse_since


@pytest.mark.parametrize("text", ["99999999d", "99999999999999999999s", "not-a-time", "0001-01-01T00:00:00"])
def test_a_time_out_of_range_or_malformed_is_a_bad_parameter(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_since(text)


def test_a_relative_time_and_an_aware_timestamp_are_read() -> None:
    assert parse_since("90s") is not None
    parsed = parse_since("2026-11-21T10:00:00+00:00")
    assert parsed is not None and parsed.isoformat() == "2026-11-21T10:00:00+00:00"
