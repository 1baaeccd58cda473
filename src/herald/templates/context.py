"""What a template sees: the notification's data at top level, plus `user` and `notification`.

Built in one place for the intake's validation render and the send path's real one, so a
template renders the same variables on both.
"""

from __future__ import annotations

from typing import Any


def render_context(data: dict[str, Any], user: dict[str, Any], event_id: str, category: str | None) -> dict[str, Any]:
    """`unsubscribe_url` and `preferences_url` are always defined, empty here: the send path
    sets them for a message that has one (tracking.steps), and a template tests them with
    `{% if unsubscribe_url %}`."""
    return {
        **data,
        "data": data,
        "user": user,
        "notification": {"event_id": event_id, "category": category},
        "unsubscribe_url": "",
        "preferences_url": "",
    }


def user_context(
    name: str | None,
    email: str | None,
    phone: str | None,
    locale: str | None,
    user_id: str | None,
    attributes: dict[str, Any],
) -> dict[str, Any]:
    """The user's attributes, overridden by the fields Herald knows them by."""
    return {**attributes, "id": user_id, "name": name, "email": email, "phone": phone, "locale": locale}
