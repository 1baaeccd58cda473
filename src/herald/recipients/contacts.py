"""Normalising addresses at the edge, so every stored email and phone is already valid."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from herald.kit.errors import InvalidEmail, InvalidPhone


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
