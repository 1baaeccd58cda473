"""Normalising addresses at the edge, so every stored email, phone and device token is
already valid."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from herald.kit.errors import InvalidDeviceToken, InvalidEmail, InvalidPhone

# What FCM itself accepts as a registration token (its v1 API answers INVALID_ARGUMENT
# otherwise); its tokens are `<instance id>:<APA91...>` in practice.
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{1,4096}")


def normalize_email(value: str, field: str = "email") -> str:
    """The normalised address; no DNS lookup, since that belongs to delivery, not intake."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidEmail(f"invalid email address: {exc}", field=field) from exc


def normalize_phone(value: str, field: str = "phone") -> str:
    """E.164, the only form every SMS provider accepts."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("invalid phone number: use E.164, e.g. +14155550123", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("invalid phone number: not a valid number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_device_token(platform: str, token: str | None, field: str = "token") -> str:
    """An iOS (APNs) or Android (FCM) token as its platform issues it: refused here, with its
    own code, rather than by the provider at send time."""
    if not token:
        raise InvalidDeviceToken(f"a {platform} device needs a token", field=field)
    if platform == "ios":
        try:
            if len(bytes.fromhex(token)) < 32:
                raise ValueError
        except ValueError as exc:
            raise InvalidDeviceToken("an APNs device token is hex, at least 32 bytes", field=field) from exc
    elif not _FCM_TOKEN.fullmatch(token):
        raise InvalidDeviceToken("an FCM registration token is letters, digits and _-:. only", field=field)
    return token
