"""The delivery channels, shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """A channel has its own queue and its own workers, so one slow channel never blocks another."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class Platform(StrEnum):
    """A push device's platform decides which provider speaks to it."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"
