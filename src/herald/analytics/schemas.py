"""Analytics shapes at the API edge: counters, the rates derived from them, and the three reads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _rate(part: int, whole: int) -> float | None:
    """A share, or None when nothing was there to divide (not 0: "no data" is not "none")."""
    return part / whole if whole else None


class Rates(BaseModel):
    """Shares of the period's cohort; null when the denominator is 0."""

    delivery_rate: float | None = Field(description="delivered / sent")
    bounce_rate: float | None = Field(description="bounced / sent (hard bounces)")
    complaint_rate: float | None = Field(description="complained / delivered")
    open_rate: float | None = Field(description="opened_unique / delivered")
    click_rate: float | None = Field(description="clicked_unique / delivered")
    click_to_open_rate: float | None = Field(description="clicked_unique / opened_unique")
    unsubscribe_rate: float | None = Field(description="unsubscribed / delivered")
    failure_rate: float | None = Field(description="(failed + dead) / accepted")


class Counters(BaseModel):
    """What happened to the deliveries Herald accepted in the period, whenever it happened."""

    accepted: int = 0
    sent: int = Field(default=0, description="a provider accepted it")
    delivered: int = Field(default=0, description="the provider reports it delivered")
    undelivered: int = Field(default=0, description="the provider reports it could not be delivered")
    bounced: int = Field(default=0, description="hard bounces (soft ones are not counted)")
    complained: int = Field(default=0, description="deliveries marked as spam")
    failed: int = Field(default=0, description="permanent failures: Herald gave up on them")
    dead: int = Field(default=0, description="retries or age ran out (dead letters)")
    unsubscribed: int = Field(default=0, description="deliveries whose recipient unsubscribed through them")
    opened: int = Field(default=0, description="every open")
    opened_unique: int = Field(default=0, description="deliveries opened at least once")
    clicked: int = Field(default=0, description="every click")
    clicked_unique: int = Field(default=0, description="deliveries clicked at least once")

    def rates(self) -> Rates:
        return Rates(
            delivery_rate=_rate(self.delivered, self.sent),
            bounce_rate=_rate(self.bounced, self.sent),
            complaint_rate=_rate(self.complained, self.delivered),
            open_rate=_rate(self.opened_unique, self.delivered),
            click_rate=_rate(self.clicked_unique, self.delivered),
            click_to_open_rate=_rate(self.clicked_unique, self.opened_unique),
            unsubscribe_rate=_rate(self.unsubscribed, self.delivered),
            failure_rate=_rate(self.failed + self.dead, self.accepted),
        )


class _Period(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from", description="the period's start (inclusive), on an hour")
    to: datetime = Field(description="the period's end (exclusive), on an hour")


class TotalsOut(_Period):
    counters: Counters
    rates: Rates


class Point(BaseModel):
    start: datetime = Field(description="the bucket's start (UTC); the bucket is a day or an hour")
    counters: Counters
    rates: Rates


class SeriesOut(_Period):
    interval: Literal["day", "hour"]
    points: list[Point]


class BreakdownItem(BaseModel):
    key: str | None = Field(
        description="the template, template version (its number), channel or provider; null: no template (inline"
        " content), no version recorded (accepted before templates had versions), or no provider (what happened"
        " before a provider had the delivery: accepted, failed or dead unsent)"
    )
    counters: Counters
    rates: Rates


class BreakdownOut(_Period):
    by: Literal["template", "template_version", "channel", "provider"]
    items: list[BreakdownItem] = Field(description="the most sent first")
    truncated: bool = Field(description="more keys than `limit`: the least sent were left out")
