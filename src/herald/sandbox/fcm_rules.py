"""The checks FCM HTTP v1 makes on a send request before accepting it.

Written apart from the adapter on purpose: the simulator must catch what a wrong adapter
would send, so it does not borrow the adapter's own idea of a valid message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_TOP_FIELDS = frozenset({"validate_only", "message"})
_MESSAGE_FIELDS = frozenset(
    {
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "topic",
        "condition",
    }
)
_ANDROID_FIELDS = frozenset(
    {
        "collapse_key",
        "priority",
        "ttl",
        "restricted_package_name",
        "data",
        "notification",
        "fcm_options",
        "direct_boot_ok",
    }
)
_NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
_TARGETS = ("token", "topic", "condition")
_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{1,4096}")
_TOPIC = re.compile(r"[A-Za-z0-9\-_.~%]{1,900}")
_TTL = re.compile(r"(\d{1,12})(\.\d{1,9})?s")
MAX_TTL_SECONDS = 28 * 86_400


@dataclass(frozen=True, slots=True)
class Violation:
    message: str
    field: str
    # Schema errors carry only google.rpc.BadRequest; FCM's own checks add an FcmError.
    fcm_error: bool = True


def _unknown(name: str, where: str) -> Violation:
    at = f" at '{where}'" if where else ""
    return Violation(
        f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.',
        f"{where}.{name}" if where else name,
        fcm_error=False,
    )


def validate_request(raw: bytes) -> dict[str, Any] | Violation:
    """The parsed request, or the first thing FCM would reject in it."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Violation("Invalid JSON payload received. Unexpected token.", "", fcm_error=False)
    if not isinstance(payload, dict):
        return Violation("Invalid JSON payload received. Expected an object.", "", fcm_error=False)
    unknown = set(payload) - _TOP_FIELDS
    if unknown:
        return _unknown(sorted(unknown)[0], "")
    message = payload.get("message")
    if not isinstance(message, dict):
        return Violation("Request contains an invalid argument.", "message")
    for check in (_fields, _target, _data, _notification, _android, _size):
        problem = check(message)
        if problem is not None:
            return problem
    return payload


def _fields(message: dict[str, Any]) -> Violation | None:
    unknown = set(message) - _MESSAGE_FIELDS
    return _unknown(sorted(unknown)[0], "message") if unknown else None


def _target(message: dict[str, Any]) -> Violation | None:
    targets = [t for t in _TARGETS if message.get(t) is not None]
    if not targets:
        return Violation("Recipient of the message is not set.", "message")
    if len(targets) > 1:
        return Violation(
            f"Invalid JSON payload received. Oneof field 'target' is already set. Cannot set '{targets[1]}'",
            f"message.{targets[1]}",
            fcm_error=False,
        )
    value = message[targets[0]]
    if not isinstance(value, str):
        return Violation(
            f"Invalid value at 'message.{targets[0]}' (TYPE_STRING)",
            f"message.{targets[0]}",
            fcm_error=False,
        )
    if targets[0] == "token" and not _TOKEN.fullmatch(value):
        return Violation("The registration token is not a valid FCM registration token", "message.token")
    if targets[0] == "topic" and not _TOPIC.fullmatch(value):
        return Violation("Invalid topic name", "message.topic")
    return None


def _data(message: dict[str, Any]) -> Violation | None:
    data = message.get("data")
    if data is None:
        return None
    if not isinstance(data, dict):
        return Violation(
            "Invalid value at 'message.data' (type.googleapis.com/google.protobuf.Struct)",
            "message.data",
            fcm_error=False,
        )
    for i, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            return Violation(
                f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}",
                f"message.data[{i}].value",
                fcm_error=False,
            )
        if key in ("from", "message_type") or key.startswith(("google", "gcm.notification.")):
            return Violation(f"Invalid data payload key: {key}", f"message.data[{i}].key")
    return None


def _notification(message: dict[str, Any]) -> Violation | None:
    notification = message.get("notification")
    if notification is None:
        return None
    if not isinstance(notification, dict):
        return Violation("Invalid value at 'message.notification'", "message.notification", fcm_error=False)
    for key, value in notification.items():
        if key not in _NOTIFICATION_FIELDS:
            return _unknown(key, "message.notification")
        if not isinstance(value, str):
            return Violation(
                f"Invalid value at 'message.notification.{key}' (TYPE_STRING)",
                f"message.notification.{key}",
                fcm_error=False,
            )
    return None


def _android(message: dict[str, Any]) -> Violation | None:
    android = message.get("android")
    if android is None:
        return None
    if not isinstance(android, dict):
        return Violation("Invalid value at 'message.android'", "message.android", fcm_error=False)
    unknown = set(android) - _ANDROID_FIELDS
    if unknown:
        return _unknown(sorted(unknown)[0], "message.android")
    if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
        return Violation(
            f"Invalid value at 'message.android.priority' (type.googleapis.com/"
            f'google.firebase.fcm.v1.AndroidMessagePriority), "{android["priority"]}"',
            "message.android.priority",
            fcm_error=False,
        )
    if not isinstance(android.get("collapse_key", ""), str):
        return Violation(
            "Invalid value at 'message.android.collapse_key' (TYPE_STRING)",
            "message.android.collapse_key",
            fcm_error=False,
        )
    ttl = android.get("ttl")
    if ttl is not None:
        match = _TTL.fullmatch(ttl) if isinstance(ttl, str) else None
        if match is None:
            return Violation(
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)",
                "message.android.ttl",
                fcm_error=False,
            )
        if int(match.group(1)) > MAX_TTL_SECONDS:
            return Violation("TTL must not exceed 4 weeks (2419200s)", "message.android.ttl")
    return None


def _size(message: dict[str, Any]) -> Violation | None:
    """Keys and values of the data plus the notification text, as FCM counts a payload."""
    data: dict[str, str] = message.get("data") or {}
    notification: dict[str, str] = message.get("notification") or {}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    size += sum(len(v.encode()) for v in notification.values())
    limit = 2048 if message.get("topic") is not None else 4096
    if size > limit:
        return Violation(f"Message is too big: {size} bytes exceeds {limit}", "message")
    return None
