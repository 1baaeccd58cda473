"""Firebase Cloud Messaging HTTP v1, for Android devices.

The OAuth2 service-account flow is done here by hand rather than with google-auth, whose
transport is synchronous: a blocking token refresh would stall every send on the loop.
Herald's key travels in `data.herald_key`, as the Android `collapse_key` (which replaces a
copy still waiting for an offline device) and as `android.notification.tag` (which replaces
a copy already shown in the notification drawer), so a resend never shows twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pydantic import BaseModel, SecretStr

from herald.kit.channels import Channel
from herald.kit.egress import Guard
from herald.providers.http import HttpAnswer, HttpClient, retry_after_seconds
from herald.providers.messages import OutboundMessage, PushMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    Outcome,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
    truncate,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MAX_PAYLOAD_BYTES = 4096
MAX_TTL_SECONDS = 28 * 86_400  # FCM keeps a message at most four weeks
RESERVED_KEYS = frozenset({"from", "message_type"})
RESERVED_PREFIXES = ("google", "gcm.notification.")
# FCM asks for at least a minute's pause after QUOTA_EXCEEDED.
QUOTA_MIN_DELAY = 60.0


class FcmConfig(BaseModel):
    base_url: str = "https://fcm.googleapis.com"
    # The service-account key file's JSON: project_id, client_email, private_key (RSA PEM),
    # private_key_id, token_uri.
    service_account: SecretStr
    timeout: float = 10.0
    max_connections: int = 256


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: RSAPrivateKey
    private_key_id: str
    token_uri: str

    @classmethod
    def from_json(cls, secret: SecretStr) -> ServiceAccount:
        """Parse the key file; errors name the missing field, never the file's content."""
        try:
            info = orjson.loads(secret.get_secret_value())
        except orjson.JSONDecodeError:
            raise ValueError("FCM service_account is not valid JSON") from None
        fields = ("project_id", "client_email", "private_key", "private_key_id", "token_uri")
        missing = [f for f in fields if not isinstance(info.get(f), str) or not info[f]]
        if missing:
            raise ValueError(f"FCM service_account lacks {', '.join(missing)}")
        try:
            key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        except ValueError:
            raise ValueError("FCM service_account private_key is not a PEM key") from None
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("FCM service_account private_key is not an RSA key")
        return cls(info["project_id"], info["client_email"], key, info["private_key_id"], info["token_uri"])


class AccessTokens:
    """OAuth2 access tokens for one service account, renewed by one caller at a time."""

    def __init__(self, account: ServiceAccount, http: HttpClient, clock: Callable[[], float]) -> None:
        self._account = account
        self._http = http
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    async def get(self) -> str | RetryLater | PermanentFailure:
        """A live token, fetched only when the cached one is about to expire."""
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is not None and self._clock() < self._renew_at:
                return self._token
            return await self._fetch()

    def discard(self, token: str) -> None:
        """Forget a token the API refused, unless a newer one already replaced it."""
        if self._token == token:
            self._token = None

    def _assertion(self, now: float) -> str:
        a = self._account
        claims = {
            "iss": a.client_email,
            "scope": SCOPE,
            "aud": a.token_uri,
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        return jwt.encode(claims, a.private_key, algorithm="RS256", headers={"kid": a.private_key_id})

    async def _fetch(self) -> str | RetryLater | PermanentFailure:
        now = self._clock()
        form = {"grant_type": JWT_BEARER, "assertion": self._assertion(now)}
        answer = await self._http.request("POST", self._account.token_uri, data=form)
        if isinstance(answer, UnknownOutcome):
            # No message went out yet, so an unanswered token request is a plain retry.
            return RetryLater(f"token_{answer.code}", answer.detail)
        if not isinstance(answer, HttpAnswer):
            return answer
        body = answer.json()
        if answer.status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            token: str = body["access_token"]
            expires_in = float(body.get("expires_in") or 3600)
            self._token = token
            self._renew_at = now + expires_in - min(300.0, expires_in / 2)
            return token
        code = body.get("error") if isinstance(body, dict) else None
        if answer.status == 429 or answer.status >= 500:
            return RetryLater(
                str(code or answer.status),
                truncate(answer.text()),
                retry_after_seconds(answer.headers.get("Retry-After")),
            )
        return PermanentFailure(str(code or answer.status), truncate(answer.text()))


def payload_bytes(data: dict[str, str], notification: dict[str, str]) -> int:
    """FCM's size rule: keys and values of the data, plus the notification's text."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in data.items()) + sum(
        len(v.encode()) for v in notification.values()
    )


def is_reserved(key: str) -> bool:
    return key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES)


class FcmAdapter:
    name = "fcm"
    channel = Channel.PUSH
    collapses_duplicates = True  # Herald's key is the notification tag: a resend replaces, never doubles

    def __init__(
        self, config: FcmConfig, *, clock: Callable[[], float] = time.time, egress: Guard | None = None
    ) -> None:
        self.config = config
        self._account = ServiceAccount.from_json(config.service_account)
        self._http = HttpClient(limit=config.max_connections, timeout=config.timeout, guard=egress)
        self._tokens = AccessTokens(self._account, self._http, clock)
        base = config.base_url.rstrip("/")
        self._url = f"{base}/v1/projects/{self._account.project_id}/messages:send"

    def body(self, m: PushMessage) -> bytes | PermanentFailure:
        """The v1 request body, or the reason FCM would refuse it (checked before sending)."""
        data = {**m.data, "herald_key": m.key}
        reserved = sorted(k for k in data if is_reserved(k))
        if reserved:
            return PermanentFailure("reserved_data_key", f"FCM reserves data keys: {', '.join(reserved)}")
        notification = {"title": m.title, "body": m.body}
        size = payload_bytes(data, notification)
        if size > MAX_PAYLOAD_BYTES:
            return PermanentFailure("payload_too_large", f"{size} bytes > {MAX_PAYLOAD_BYTES}")
        android = {
            "collapse_key": m.key,
            "priority": "HIGH" if m.priority == "high" else "NORMAL",
            "ttl": f"{max(0, min(m.ttl_seconds, MAX_TTL_SECONDS))}s",
            "notification": {"tag": m.key},
        }
        message = {"token": m.token, "notification": notification, "data": data, "android": android}
        return orjson.dumps({"message": message})

    async def send(self, message: OutboundMessage) -> Outcome:
        assert isinstance(message, PushMessage)
        body = self.body(message)
        if isinstance(body, PermanentFailure):
            return body
        return await self._post(body, renew_on_401=True)

    async def _post(self, body: bytes, *, renew_on_401: bool) -> Outcome:
        token = await self._tokens.get()
        if not isinstance(token, str):
            return token
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=UTF-8",
        }
        answer = await self._http.request("POST", self._url, data=body, headers=headers)
        if not isinstance(answer, HttpAnswer):
            return answer
        if answer.status == 401 and renew_on_401 and error_code(answer.json()) is None:
            # A plain UNAUTHENTICATED: the token expired or was revoked early. Renew once.
            self._tokens.discard(token)
            return await self._post(body, renew_on_401=False)
        return classify(answer)

    async def close(self) -> None:
        await self._http.close()


def error_code(body: Any) -> str | None:
    """The FcmError `errorCode` from a Google error body, if it carries one."""
    details = body.get("error", {}).get("details") if isinstance(body, dict) else None
    for d in details if isinstance(details, list) else []:
        if isinstance(d, dict) and d.get("@type") == FCM_ERROR_TYPE and d.get("errorCode"):
            return str(d["errorCode"])
    return None


def _about_token(error: dict[str, Any]) -> bool:
    """INVALID_ARGUMENT covers many faults; only a bad registration token retires the device."""
    if "registration token" in str(error.get("message", "")).lower():
        return True
    details = error.get("details")
    for d in details if isinstance(details, list) else []:
        violations = d.get("fieldViolations") if isinstance(d, dict) else None
        for v in violations if isinstance(violations, list) else []:
            if isinstance(v, dict) and v.get("field") == "message.token":
                return True
    return False


def classify(answer: HttpAnswer) -> Outcome:
    """One FCM answer as an outcome, by errorCode first, then Google status, then HTTP status."""
    body = answer.json()
    if 200 <= answer.status < 300:
        name = body.get("name") if isinstance(body, dict) else None
        return Delivered(str(name) if name else None)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error_code(body) or str(error.get("status") or answer.status)
    detail = truncate(answer.text())
    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
    if code == "UNREGISTERED":
        return DeadAddress(code, detail)
    if code == "INVALID_ARGUMENT" and _about_token(error):
        return DeadAddress(code, detail)
    if code == "QUOTA_EXCEEDED" or answer.status == 429:
        return RetryLater(code, detail, max(QUOTA_MIN_DELAY, retry_after or 0.0))
    if answer.status >= 500:
        return RetryLater(code, detail, retry_after)
    return PermanentFailure(code, detail)
