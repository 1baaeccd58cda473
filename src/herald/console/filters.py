"""The filters of the console's GET forms (Activity, Dead letters) read from a query string.

A form sends every field, empty or not, so an empty value means "no filter" here (the API
refuses one). A time without an offset is UTC: a `datetime-local` control sends none. Each
value is bounded as the API bounds it, and a bad one is an error shown next to its control,
never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from herald.kit.channels import Channel
from herald.notifications.models import DeliveryState
from herald.notifications.search import Search

DELIVERY_STATES = [s.value for s in DeliveryState]
# The longest value of each text filter: the columns' (and the API's) limits.
TEXT_LIMITS = {"user_id": 200, "event_id": 200, "template": 200, "category": 100, "provider": 32, "reason": 200}


def options(values: Iterable[str]) -> list[tuple[str, str]]:
    """A select's options: any, then each value."""
    return [("", "Any"), *((v, v) for v in values)]


@dataclass(frozen=True, slots=True)
class Parsed:
    """The filters given (`raw`: as typed, empty ones left out, to build links with) and the
    cursor of the page asked for."""

    raw: dict[str, str]
    values: dict[str, str | datetime]
    cursor: uuid.UUID | None


def _instant(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse(
    params: Mapping[str, str], texts: tuple[str, ...], times: tuple[str, str], choices: tuple[str, ...] = ("channel",)
) -> tuple[Parsed | None, dict[str, str]]:
    """The filters `texts`, the time range `times` (after, before) and the `choices` (channel,
    state) of a query string, or the errors by field."""
    raw = {k: params.get(k, "").strip() for k in (*texts, *times, *choices)}
    raw = {k: v for k, v in raw.items() if v}
    errors: dict[str, str] = {}
    values: dict[str, str | datetime] = {}
    for name, value in raw.items():
        if len(value) > TEXT_LIMITS.get(name, 64) or "\x00" in value:
            errors[name] = f"at most {TEXT_LIMITS.get(name, 64)} characters"
        elif name in times:
            try:
                values[name] = _instant(value)
            except (ValueError, OverflowError):
                errors[name] = "a date and time, as 2026-12-01T09:30 (UTC) or with an offset"
        elif name == "channel" and value not in Channel.names():
            errors[name] = f"one of {', '.join(Channel.names())}"
        elif name == "state" and value not in DELIVERY_STATES:
            errors[name] = f"one of {', '.join(DELIVERY_STATES)}"
        else:
            values[name] = value
    after, before = values.get(times[0]), values.get(times[1])
    if isinstance(after, datetime) and isinstance(before, datetime) and before <= after:
        errors[times[1]] = "must come after the start"
    cursor = None
    if params.get("cursor"):
        try:
            cursor = uuid.UUID(hex=params["cursor"][:64])
        except ValueError:
            errors["cursor"] = "this page link is not valid: start from the first page"
    return (None, errors) if errors else (Parsed(raw, values, cursor), {})


_SEARCH_TEXTS = ("user_id", "event_id", "template", "category", "provider")


def parse_search(params: Mapping[str, str]) -> tuple[tuple[Search, Parsed] | None, dict[str, str]]:
    """Activity's search: the filters of /v1/notifications."""
    parsed, errors = parse(params, _SEARCH_TEXTS, ("created_after", "created_before"), ("channel", "state"))
    if parsed is None:
        return None, errors
    v = parsed.values

    def text(name: str) -> str | None:
        value = v.get(name)
        return value if isinstance(value, str) else None

    def time(name: str) -> datetime | None:
        value = v.get(name)
        return value if isinstance(value, datetime) else None

    search = Search(
        user_id=text("user_id"),
        event_id=text("event_id"),
        template=text("template"),
        category=text("category"),
        state=text("state"),
        channel=text("channel"),
        provider=text("provider"),
        created_after=time("created_after"),
        created_before=time("created_before"),
    )
    return (search, parsed), {}
