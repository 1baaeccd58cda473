"""Deciding whether a user accepts a message on a channel in a category."""

from __future__ import annotations

from herald.preferences.models import ANY

Rules = dict[tuple[str, str], bool]


def allows(rules: Rules, channel: str, category: str | None) -> bool:
    """The most specific rule wins: channel x category, then category, then channel.

    With no rule at all, a user receives everything: opting out is explicit.
    """
    cat = category or ANY
    for key in ((channel, cat), (ANY, cat), (channel, ANY)):
        if key in rules:
            return rules[key]
    return True
