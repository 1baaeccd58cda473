"""The FCM sandbox: Google's OAuth2 token endpoint and the FCM HTTP v1 send API.

It issues its own service account, so the real flow runs end to end: an RS256 assertion is
checked against the key it handed out, the access token it returns is the only bearer the
send API accepts, and each answer uses Google's error format with the FcmError errorCode.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from herald.providers.fcm import FcmConfig
from herald.sandbox.faults import Faults
from herald.sandbox.fcm_rules import FCM_ERROR_TYPE, Violation, validate_request
from herald.sandbox.inbox import Inbox, InboxEntry
from herald.sandbox.server import drop_connection

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
TOKEN_LIFETIME = 3599
# Google's token endpoint answers to its canonical names too; google-auth always uses the first.
GOOGLE_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
    }
)
_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)

# Injectable errorCodes -> (HTTP status, Google status, message), as FCM answers them.
# "UNAUTHENTICATED" is the plain bearer rejection, which carries no FcmError detail.
ERRORS: dict[str, tuple[int, str, str]] = {
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for the message target."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "UNAUTHENTICATED": (401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
}


@dataclass(frozen=True, slots=True)
class _Grant:
    expires_at: float
    scopes: frozenset[str]


def google_error(
    http: int,
    status: str,
    message: str,
    *,
    error_code: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in Google's JSON format, with the FcmError detail when FCM names one."""
    extra = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}] if error_code else []
    error: dict[str, Any] = {"code": http, "message": message, "status": status}
    if extra or details:
        error["details"] = extra + (details or [])
    return web.Response(
        status=http,
        body=orjson.dumps({"error": error}),
        content_type="application/json",
        charset="UTF-8",
        headers=headers,
    )


def oauth_error(error: str, description: str) -> web.Response:
    body = orjson.dumps({"error": error, "error_description": description})
    return web.Response(status=400, body=body, content_type="application/json")


class FcmSimulator:
    name = "fcm"

    def __init__(
        self,
        inbox: Inbox,
        *,
        project_id: str = "herald-sandbox",
        clock: Callable[[], float] = time.time,
        device_quota_per_minute: int = 240,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.project_id = project_id
        self.client_email = f"herald-sender@{project_id}.iam.gserviceaccount.com"
        self.private_key_id = secrets.token_hex(20)
        self.tokens_issued = 0
        self._clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._key.public_key()
        self._audiences: set[str] = set(GOOGLE_AUDIENCES)
        self._grants: dict[str, _Grant] = {}
        self._quota = device_quota_per_minute
        self._window = -1
        self._per_device: dict[str, int] = {}
        self._ids = itertools.count(1)

    def service_account_info(self, base_url: str) -> dict[str, str]:
        """A key file for this simulator; its token_uri is served here too."""
        token_uri = f"{base_url.rstrip('/')}/token"
        self._audiences.add(token_uri)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000000",
            "token_uri": token_uri,
        }

    def adapter_config(self, base_url: str) -> FcmConfig:
        info = self.service_account_info(base_url)
        return FcmConfig(base_url=base_url, service_account=SecretStr(orjson.dumps(info).decode()))

    def expire_access_tokens(self) -> None:
        """Google may end a token before expires_in; senders must then fetch a new one."""
        self._grants.clear()

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        return [
            web.post("/token", self._token),
            web.post("/v1/projects/{project_id}/messages:send", self._send),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    # OAuth2 token endpoint

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER:
            shown = grant_type if isinstance(grant_type, str) else ""
            return oauth_error("unsupported_grant_type", f"Invalid grant_type: {shown}")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or not assertion:
            return oauth_error("invalid_request", "Missing required parameter: assertion")
        claims = self._verify_assertion(assertion, str(request.url.with_query(None)))
        if isinstance(claims, web.Response):
            return claims
        access_token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        self._issue(access_token, frozenset(str(claims["scope"]).split()))
        body = {"access_token": access_token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def _verify_assertion(self, assertion: str, url: str) -> dict[str, Any] | web.Response:
        try:
            if jwt.get_unverified_header(assertion).get("kid", self.private_key_id) != self.private_key_id:
                return oauth_error("invalid_grant", "Invalid JWT Signature.")
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except jwt.InvalidSignatureError:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "Invalid JWT: malformed assertion.")
        if claims.get("iss") != self.client_email:
            return oauth_error("invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") not in self._audiences | {url}:
            return oauth_error(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The expected audience is {url}.",
            )
        iat, exp, now = claims.get("iat"), claims.get("exp"), self._clock()
        if not isinstance(iat, int) or not isinstance(exp, int):
            return oauth_error("invalid_grant", _SHORT_LIVED)
        if exp - iat > 3600 or exp <= now or iat > now + 300:
            return oauth_error("invalid_grant", _SHORT_LIVED)
        if not isinstance(claims.get("scope"), str) or not claims["scope"].strip():
            return oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return claims

    def _issue(self, access_token: str, scopes: frozenset[str]) -> None:
        now = self._clock()
        if len(self._grants) > 10_000:
            self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
        self._grants[access_token] = _Grant(now + TOKEN_LIFETIME, scopes)
        self.tokens_issued += 1

    # FCM send

    def _authorize(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if not header.lower().startswith("bearer "):
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. " + _AUTH_HELP,
                headers=challenge,
            )
        grant = self._grants.get(header[7:].strip())
        if grant is None or grant.expires_at <= self._clock():
            challenge["WWW-Authenticate"] += ', error="invalid_token"'
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. " + _AUTH_HELP,
                headers=challenge,
            )
        if not grant.scopes & FCM_SCOPES:
            return google_error(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
        if request.match_info["project_id"] != self.project_id:
            project = request.match_info["project_id"]
            return google_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'cloudmessaging.messages.create' denied on "
                f"resource '//cloudresourcemanager.googleapis.com/projects/{project}' "
                "(or it may not exist).",
            )
        return None

    async def _send(self, request: web.Request) -> web.StreamResponse:
        await self.faults.delay()
        denied = self._authorize(request)
        if denied is not None:
            return denied
        parsed = validate_request(await request.read())
        if isinstance(parsed, Violation):
            return self._invalid(parsed)
        draw = self.faults.draw()
        if draw.kind == "error":
            return self._injected(draw.code or "INTERNAL")
        if draw.kind == "throttle":
            return self._quota_exceeded(draw.retry_after)
        message = parsed["message"]
        token = message.get("token")
        if token is not None and token in self.faults.revoked:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.", error_code="UNREGISTERED")
        if parsed.get("validate_only"):
            return self._named("fake_message_id")
        if token is not None and self._over_quota(token):
            return self._quota_exceeded(None)
        message_id = f"0:{int(self._clock() * 1000)}%{next(self._ids):x}"
        self._record(message, message_id)
        if draw.kind == "drop":
            return await drop_connection(request)
        return self._named(message_id)

    def _named(self, message_id: str) -> web.Response:
        name = f"projects/{self.project_id}/messages/{message_id}"
        return web.Response(body=orjson.dumps({"name": name}), content_type="application/json")

    def _invalid(self, v: Violation) -> web.Response:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": v.field, "description": v.message}],
            }
        ]
        return google_error(
            400,
            "INVALID_ARGUMENT",
            v.message,
            error_code="INVALID_ARGUMENT" if v.fcm_error else None,
            details=details,
        )

    def _injected(self, code: str) -> web.Response:
        http, status, message = ERRORS.get(code, (500, "INTERNAL", f"Injected failure {code}"))
        headers = None
        if code == "UNAVAILABLE":
            headers = {"Retry-After": str(self.faults.settings.throttle_retry_after)}
        error_code = code if code in ERRORS and code != "UNAUTHENTICATED" else None
        return google_error(http, status, message, error_code=error_code, headers=headers)

    def _quota_exceeded(self, retry_after: int | None) -> web.Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for the message target.",
            error_code="QUOTA_EXCEEDED",
            headers=headers,
        )

    def _over_quota(self, token: str) -> bool:
        """Per-device rate in fixed one-minute windows: cheap, and close to FCM's 240/min."""
        window = int(self._clock() // 60)
        if window != self._window:
            self._window, self._per_device = window, {}
        count = self._per_device.get(token, 0) + 1
        self._per_device[token] = count
        return count > self._quota

    def _record(self, message: dict[str, Any], message_id: str) -> None:
        data = message.get("data") or {}
        android = message.get("android") or {}
        destination = message.get("token") or message.get("topic") or message.get("condition") or ""
        self.inbox.record(
            InboxEntry(
                provider="fcm",
                destination=str(destination),
                message_id=message_id,
                key=data.get("herald_key"),
                # The device is online: what replaces a shown notification is its tag
                # (`collapse_key` only replaces messages still held for an offline device).
                collapse_key=shown.get("tag") if isinstance(shown := android.get("notification"), dict) else None,
                headers={},
                body=message,
                received_at=self._clock(),
            )
        )
