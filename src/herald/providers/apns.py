"""Apple Push Notification service: `POST /3/device/<token>` over HTTP/2, token (JWT) auth.

Herald's key rides in `apns-id` (echoed back, so it correlates the answer) and in
`apns-collapse-id`, so a resend after an unknown outcome replaces the notification on the
device instead of showing it twice.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from herald.kit.channels import Channel
from herald.kit.egress import EGRESS_DENIED, EgressRefused, Guard
from herald.providers.apns_transport import (
    ConnectFailed,
    H2ClientConnection,
    H2Response,
    Headers,
    NotSent,
    Unanswered,
    unindexed,
)
from herald.providers.http import retry_after_seconds
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

MAX_PAYLOAD = 4096
# 400 reasons that mean the token itself is wrong for this app: retire it, as zulip does.
DEAD_400 = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
_HEX_TOKEN = re.compile(r"[0-9a-fA-F]+")


class ApnsConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = "https://api.push.apple.com"
    team_id: str
    key_id: str
    private_key: SecretStr  # PEM of the P-256 signing key (.p8)
    topic: str  # the app's bundle id
    ca_pem: str | None = Field(default=None, repr=False)  # an extra CA to trust (the sandbox)
    # Apple: refresh no more often than every 20 min and at least every 60 min.
    token_refresh: float = Field(default=3000.0, ge=1200.0, le=3600.0)
    timeout: float = Field(default=10.0, gt=0)
    connections: int = Field(default=1, ge=1, le=64)


class ProviderToken:
    """One JWT shared by every stream and connection, re-minted only when due.

    APNs answers 429 TooManyProviderTokenUpdates to a token renewed sooner than 20 minutes,
    so a token is never minted per request.
    """

    def __init__(self, config: ApnsConfig, clock: Callable[[], float] = time.time) -> None:
        self._team_id, self._key_id = config.team_id, config.key_id
        self._refresh = config.token_refresh
        self._clock = clock
        key = load_pem_private_key(config.private_key.get_secret_value().encode(), password=None)
        if not isinstance(key, EllipticCurvePrivateKey):
            raise ValueError("APNs signing keys are P-256 EC keys")
        self._key = key
        self._token: str | None = None
        self._issued_at = 0

    def current(self) -> str:
        """The cached token, re-minted once `token_refresh` seconds have passed."""
        if self._token is None or self._clock() - self._issued_at >= self._refresh:
            return self._mint()
        return self._token

    def renew(self, rejected: str) -> str:
        """A fresh token after ExpiredProviderToken, unless another send already renewed it."""
        if rejected == self._token:
            return self._mint()
        return self.current()

    def _mint(self) -> str:
        self._issued_at = int(self._clock())
        self._token = jwt.encode(
            {"iss": self._team_id, "iat": self._issued_at},
            self._key,
            algorithm="ES256",
            headers={"kid": self._key_id, "typ": None},
        )
        return self._token


class ApnsAdapter:
    name = "apns"
    channel = Channel.PUSH
    collapses_duplicates = True  # Herald's key is the collapse key: a resend replaces, never doubles

    def __init__(
        self, config: ApnsConfig, *, clock: Callable[[], float] = time.time, egress: Guard | None = None
    ) -> None:
        self.config = config
        self._clock = clock
        self._tokens = ProviderToken(config, clock)
        url = urlsplit(config.base_url)
        if url.scheme != "https" or not url.hostname:
            raise ValueError("APNs base_url must be https://host[:port]")
        self._pool = H2Pool(
            url.hostname,
            url.port or 443,
            tls_context(config.ca_pem),
            size=config.connections,
            connect_timeout=config.timeout,
            guard=egress,
        )

    @property
    def connections_opened(self) -> int:
        return self._pool.opened

    async def send(self, message: OutboundMessage) -> Outcome:
        """One notification, one outcome; ExpiredProviderToken earns one new token and one retry."""
        if not isinstance(message, PushMessage) or message.platform != "ios":
            return PermanentFailure("unsupported_message", "APNs sends iOS push messages only")
        if not _HEX_TOKEN.fullmatch(message.token):
            # APNs would answer BadDeviceToken; a non-hex token would not even form a path.
            return DeadAddress("BadDeviceToken", "device token is not hexadecimal")
        body = payload(message)
        if len(body) > MAX_PAYLOAD:
            return PermanentFailure("PayloadTooLarge", f"payload is {len(body)} bytes, limit {MAX_PAYLOAD}")
        bearer = self._tokens.current()
        answer = await self._exchange(message, body, bearer)
        if isinstance(answer, H2Response) and _reason(answer) == "ExpiredProviderToken":
            answer = await self._exchange(message, body, self._tokens.renew(bearer))
        return classify(answer) if isinstance(answer, H2Response) else answer

    def headers(self, message: PushMessage, bearer: str) -> list[tuple[bytes, bytes]]:
        """The request headers, lowercase as HTTP/2 requires; the key fills apns-id and collapse-id."""
        expiration = int(self._clock()) + message.ttl_seconds if message.ttl_seconds > 0 else 0
        return [
            (b":method", b"POST"),
            unindexed(b":path", f"/3/device/{message.token}".encode("ascii")),
            (b"authorization", f"bearer {bearer}".encode("ascii")),
            (b"apns-push-type", b"alert"),
            (b"apns-topic", self.config.topic.encode()),
            unindexed(b"apns-id", message.key_uuid.encode("ascii")),
            unindexed(b"apns-collapse-id", message.key.encode()),
            (b"apns-priority", b"10" if message.priority == "high" else b"5"),
            unindexed(b"apns-expiration", str(expiration).encode("ascii")),
            (b"content-type", b"application/json"),
        ]

    async def _exchange(self, message: PushMessage, body: bytes, bearer: str) -> H2Response | Outcome:
        try:
            return await self._pool.request(self.headers(message, bearer), body, self.config.timeout)
        except ConnectFailed as exc:
            if isinstance(exc.__cause__, EgressRefused):
                return PermanentFailure(EGRESS_DENIED, truncate(str(exc)))
            return RetryLater("connect_error", truncate(str(exc)))
        except NotSent as exc:
            return RetryLater(exc.code, "the request never reached APNs")
        except Unanswered as exc:
            return UnknownOutcome(exc.code, truncate(exc.detail))

    async def close(self) -> None:
        """Close every connection with GOAWAY; the next send reconnects."""
        await self._pool.close()


def payload(message: PushMessage) -> bytes:
    """The alert, with custom data at the top level beside `aps`, as Apple lays it out."""
    body: dict[str, Any] = {k: v for k, v in message.data.items() if k != "aps"}
    body["aps"] = {"alert": {"title": message.title, "body": message.body}, "sound": "default"}
    return orjson.dumps(body)


def classify(answer: H2Response) -> Outcome:
    """One APNs answer as an outcome, per Apple's table of statuses and reasons."""
    status = answer.status
    if status == 200:
        return Delivered(answer.headers.get("apns-id"))
    reason = _reason(answer) or str(status)
    detail = truncate(answer.body)
    if status == 410:
        return DeadAddress(reason, detail, since=_since(answer))
    if status == 400 and reason in DEAD_400:
        return DeadAddress(reason, detail)
    if status == 429 or status >= 500:
        return RetryLater(reason, detail, retry_after_seconds(answer.headers.get("retry-after")))
    return PermanentFailure(reason, detail)


def _error_body(answer: H2Response) -> dict[str, Any]:
    try:
        parsed = orjson.loads(answer.body) if answer.body else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _reason(answer: H2Response) -> str | None:
    if answer.status == 200:
        return None
    reason = _error_body(answer).get("reason")
    return reason if isinstance(reason, str) else None


def _since(answer: H2Response) -> datetime | None:
    """The 410 `timestamp`: milliseconds since the epoch when APNs saw the token die."""
    stamp = _error_body(answer).get("timestamp")
    if not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(stamp / 1000, tz=UTC)


class H2Pool:
    """A few long-lived connections to one origin, opened lazily and replaced when they die."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: ssl.SSLContext,
        *,
        size: int = 1,
        connect_timeout: float = 10.0,
        guard: Guard | None = None,
    ) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._guard = guard
        self._authority = (host if port == 443 else f"{host}:{port}").encode("ascii")
        self._connect_timeout = connect_timeout
        self._conns: list[H2ClientConnection | None] = [None] * size
        self._locks = [asyncio.Lock() for _ in range(size)]
        self._turn = 0
        self.opened = 0

    async def request(self, headers: Headers, body: bytes, timeout: float) -> H2Response:
        """Send on a live connection; a request the server never saw gets one more connection."""
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                return await conn.request(headers, body, timeout)
            except NotSent as exc:
                if attempt == 2 or exc.code == "timeout":
                    raise
        raise AssertionError("unreachable")

    async def _connection(self) -> H2ClientConnection:
        index = self._turn % len(self._conns)
        self._turn += 1
        conn = self._conns[index]
        if conn is not None and conn.usable:
            return conn
        async with self._locks[index]:
            conn = self._conns[index]
            if conn is None or not conn.usable:
                conn = await self._open()
                self._conns[index] = conn
            return conn

    async def _open(self) -> H2ClientConnection:
        loop = asyncio.get_running_loop()
        conn: H2ClientConnection | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                conn = await self._dial(loop)
                await conn.ready
        except (OSError, TimeoutError, ConnectFailed) as exc:
            if conn is not None:
                conn.close()
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        self.opened += 1
        return conn

    async def _dial(self, loop: asyncio.AbstractEventLoop) -> H2ClientConnection:
        def protocol() -> H2ClientConnection:
            return H2ClientConnection(self._authority)

        if self._guard is None:
            _, conn = await loop.create_connection(
                protocol, self._host, self._port, ssl=self._tls, server_hostname=self._host
            )
            return conn
        # The guard picks the address, so a name re-pointed since any earlier check cannot move it.
        sock = await self._guard.connect(self._host, self._port)
        _, conn = await loop.create_connection(protocol, ssl=self._tls, server_hostname=self._host, sock=sock)
        return conn

    async def close(self) -> None:
        for index, conn in enumerate(self._conns):
            if conn is not None:
                conn.close()
            self._conns[index] = None


def tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """The system trust store, plus an extra CA (the sandbox's) when given; ALPN h2 only."""
    ctx = ssl.create_default_context()
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem)
    ctx.set_alpn_protocols(["h2"])
    return ctx
