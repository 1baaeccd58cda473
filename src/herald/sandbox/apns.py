"""The APNs sandbox: HTTP/2 over TLS on its own port, checking what Apple checks.

Provider tokens are verified (ES256 against the registered key, `iss` = the key's team), aged
(older than an hour: ExpiredProviderToken) and rate-limited per connection: a token issued
less than 20 minutes after the one the connection already uses is TooManyProviderTokenUpdates.
The gap is measured between `iat`s, not arrival times, so a client that reconnects with its
current token and then refreshes on schedule is not punished. A connection allows one
stream until its first authenticated request, then 1000, as APNs does. Accepted
notifications land in the inbox keyed by `apns-id` and collapsed by `apns-collapse-id`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import ssl
import string
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import jwt
import orjson
import trustme
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_public_key,
)
from pydantic import SecretStr

from herald.providers.apns import ApnsConfig
from herald.providers.apns_transport import unindexed
from herald.sandbox.apns_server import H2Request, H2ServerConnection
from herald.sandbox.faults import Draw, Faults
from herald.sandbox.inbox import Inbox, InboxEntry

# Every documented reason with the status APNs answers it with.
STATUS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BadCollapseId",
            "BadDeviceToken",
            "BadExpirationDate",
            "BadMessageId",
            "BadPriority",
            "BadTopic",
            "DeviceTokenNotForTopic",
            "DuplicateHeaders",
            "IdleTimeout",
            "InvalidPushType",
            "MissingDeviceToken",
            "MissingTopic",
            "PayloadEmpty",
            "TopicDisallowed",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "BadCertificate",
            "BadCertificateEnvironment",
            "ExpiredProviderToken",
            "Forbidden",
            "InvalidProviderToken",
            "MissingProviderToken",
        ),
        403,
    ),
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "ExpiredToken": 410,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "controls",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
    }
)
TOKEN_MAX_AGE = 3600.0  # older: ExpiredProviderToken
TOKEN_MIN_REFRESH = 1200.0  # a new token sooner than this: TooManyProviderTokenUpdates
STREAMS_BEFORE_AUTH, STREAMS_AFTER_AUTH = 1, 1000
_DEVICE = re.compile(r"[0-9a-fA-F]{64,200}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_REPEATABLE = frozenset({b"cookie"})
# Wildcard listen addresses: clients reach them over loopback.
_WILDCARD = frozenset({"0.0.0.0", "::", ""})  # noqa: S104


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    reason: str


@dataclass(slots=True)
class _TokenState:
    """The provider token a connection uses; APNs holds one per connection."""

    token: str
    iat: int
    expired: bool = False  # we said ExpiredProviderToken: any newer token is welcome


@dataclass(frozen=True, slots=True)
class _Key:
    team_id: str
    public_key: ec.EllipticCurvePublicKey


class ApnsSimulator:
    name = "apns"

    def __init__(
        self,
        inbox: Inbox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        topics: Iterable[str] = ("com.herald.sandbox",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.faults = Faults()
        self.host, self.port = host, port
        self.topics = set(topics)
        self.device_topics: dict[str, str] = {}  # token -> the only topic it accepts
        self.clock = clock
        self.connections_opened = 0
        self.requests = 0
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert(*{"127.0.0.1", "localhost", host} - _WILDCARD)
        self._keys: dict[str, _Key] = {}
        self._auth: dict[H2ServerConnection, _TokenState] = {}
        self._authenticated: set[H2ServerConnection] = set()
        self._live: set[H2ServerConnection] = set()
        self._revoked_at: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def ca_pem(self) -> str:
        """The CA that signed this listener's certificate, for the adapter to trust."""
        return self._ca.cert_pem.bytes().decode()

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in _WILDCARD else self.host
        return f"https://{host}:{self.port}"

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (held back by injected latency)."""
        return sum(conn.pending for conn in self._live)

    def routes(self) -> Iterable[web.AbstractRouteDef]:
        """None: APNs has its own HTTP/2 listener."""
        return []

    async def start(self) -> None:
        """Listen on host:port (0 = any free port, read back into `.port`)."""
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(tls)
        tls.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, self.host, self.port, ssl=tls, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    def drop_connections(self) -> None:
        """Abort every client connection at once, as a network failure would."""
        for conn in list(self._live):
            conn.abort()

    # credentials

    def add_key(self, team_id: str, key_id: str, public_key: ec.EllipticCurvePublicKey | str) -> None:
        """Trust a signing key, as registering it in the Apple developer account does."""
        if isinstance(public_key, str):
            loaded = load_pem_public_key(public_key.encode())
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                raise ValueError("APNs signing keys are P-256 EC keys")
            public_key = loaded
        self._keys[key_id] = _Key(team_id, public_key)

    def new_key(self, team_id: str = "HRLDSANDBX") -> tuple[str, str, str]:
        """A fresh key pair, registered: (team id, key id, private key PEM)."""
        private = ec.generate_private_key(ec.SECP256R1())
        key_id = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))
        self.add_key(team_id, key_id, private.public_key())
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        return team_id, key_id, pem

    def adapter_config(self, base_url: str | None = None, **overrides: object) -> ApnsConfig:
        """Config for ApnsAdapter; base_url defaults to this simulator's own listener."""
        team_id, key_id, pem = self.new_key()
        fields: dict[str, object] = {
            "base_url": base_url or self.base_url,
            "team_id": team_id,
            "key_id": key_id,
            "private_key": SecretStr(pem),
            "topic": sorted(self.topics)[0],
            "ca_pem": self.ca_pem,
        }
        return ApnsConfig.model_validate({**fields, **overrides})

    # connections

    def _connection(self) -> H2ServerConnection:
        conn = H2ServerConnection(self._dispatch, initial_streams=STREAMS_BEFORE_AUTH, on_close=self._closed)
        self.connections_opened += 1
        self._live.add(conn)
        return conn

    def _closed(self, conn: H2ServerConnection) -> None:
        self._live.discard(conn)
        self._auth.pop(conn, None)
        self._authenticated.discard(conn)

    def _dispatch(self, conn: H2ServerConnection, request: H2Request) -> None:
        s = self.faults.settings
        if s.latency_ms or s.latency_jitter_ms:
            task = asyncio.get_running_loop().create_task(self._handle_later(conn, request, time.time()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._handle(conn, request)

    async def _handle_later(self, conn: H2ServerConnection, request: H2Request, arrived_at: float) -> None:
        await self.faults.delay(arrived_at)
        self._handle(conn, request)

    def _handle(self, conn: H2ServerConnection, request: H2Request) -> None:
        self.requests += 1
        headers, duplicated = _header_map(request.headers)
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        if conn.closing:
            return self._refuse(conn, request, apns_id, _Refusal(503, "Shutdown"))
        checked = self._check(conn, headers, duplicated, request.body)
        if checked is not None:
            return self._refuse(conn, request, apns_id, checked)
        draw = self.faults.draw()
        if draw.kind == "error":
            return self._inject(conn, request, apns_id, draw)
        if draw.kind == "throttle":
            return self._reply(
                conn,
                request.stream_id,
                apns_id,
                429,
                "TooManyRequests",
                extra=[(b"retry-after", str(draw.retry_after or 1).encode())],
            )
        self._record(headers, request.body, apns_id)
        if draw.kind == "drop":
            return conn.reset(request.stream_id)
        conn.respond(request.stream_id, 200, [unindexed(b"apns-id", apns_id.encode())])

    # validation, in the order APNs applies it

    def _check(self, conn: H2ServerConnection, h: dict[str, str], duplicated: bool, body: bytearray) -> _Refusal | None:
        if h.get(":method") != "POST":
            return _Refusal(405, "MethodNotAllowed")
        path = h.get(":path", "")
        if not path.startswith("/3/device/"):
            return _Refusal(404, "BadPath")
        if duplicated:
            return _Refusal(400, "DuplicateHeaders")
        refused = self._authorize(conn, h.get("authorization"))
        if refused is not None:
            return refused
        return self._check_push(path.removeprefix("/3/device/"), h, body)

    def _check_push(self, token: str, h: dict[str, str], body: bytearray) -> _Refusal | None:
        topic, push_type = h.get("apns-topic"), h.get("apns-push-type", "alert")
        checks: list[tuple[bool, int, str]] = [
            (not token, 400, "MissingDeviceToken"),
            (not _DEVICE.fullmatch(token), 400, "BadDeviceToken"),
            (topic is None, 400, "MissingTopic"),
            (topic is not None and not topic.strip(), 400, "BadTopic"),
            (topic not in self.topics, 400, "TopicDisallowed"),
            (self.device_topics.get(token.lower(), topic) != topic, 400, "DeviceTokenNotForTopic"),
            (push_type not in PUSH_TYPES, 400, "InvalidPushType"),
            ("apns-id" in h and not _UUID.fullmatch(h["apns-id"]), 400, "BadMessageId"),
            (h.get("apns-priority", "10") not in ("10", "5", "1"), 400, "BadPriority"),
            (not h.get("apns-expiration", "0").isdigit(), 400, "BadExpirationDate"),
            (len(h.get("apns-collapse-id", "").encode()) > 64, 400, "BadCollapseId"),
            (not body, 400, "PayloadEmpty"),
            (len(body) > (5120 if push_type == "voip" else 4096), 413, "PayloadTooLarge"),
            (self._is_revoked(token), 410, "Unregistered"),
        ]
        for failed, status, reason in checks:
            if failed:
                return _Refusal(status, reason)
        return None

    def _authorize(self, conn: H2ServerConnection, value: str | None) -> _Refusal | None:
        if not value:
            return _Refusal(403, "MissingProviderToken")
        scheme, _, token = value.partition(" ")
        state, now = self._auth.get(conn), self.clock()
        if state is not None and token == state.token:
            if now - state.iat > TOKEN_MAX_AGE:
                state.expired = True
                return _Refusal(403, "ExpiredProviderToken")
            return None
        iat = self._verify(token) if scheme.lower() == "bearer" else None
        if iat is None:
            return _Refusal(403, "InvalidProviderToken")
        if now - iat > TOKEN_MAX_AGE:
            return _Refusal(403, "ExpiredProviderToken")
        if state is not None and not state.expired and 0 < iat - state.iat < TOKEN_MIN_REFRESH:
            return _Refusal(429, "TooManyProviderTokenUpdates")
        self._auth[conn] = _TokenState(token, iat)
        if conn not in self._authenticated:
            self._authenticated.add(conn)
            conn.raise_stream_limit(STREAMS_AFTER_AUTH)
        return None

    def _verify(self, token: str) -> int | None:
        """The token's `iat` if it is an ES256 JWT signed by a registered key of its `iss`."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != "ES256":
                return None
            claims = jwt.decode(
                token, key.public_key, algorithms=["ES256"], options={"verify_iat": False, "require": ["iss", "iat"]}
            )
        except jwt.PyJWTError:
            return None
        iat = claims.get("iat")
        return iat if claims.get("iss") == key.team_id and isinstance(iat, int) else None

    def _is_revoked(self, token: str) -> bool:
        revoked = self.faults.revoked
        if token not in revoked and token.lower() not in revoked:
            return False
        self._revoked_at.setdefault(token, int(self.clock() * 1000))
        return True

    # answers

    def _refuse(self, conn: H2ServerConnection, request: H2Request, apns_id: str, refusal: _Refusal) -> None:
        self._reply(conn, request.stream_id, apns_id, refusal.status, refusal.reason, token=_token_of(request))

    def _inject(self, conn: H2ServerConnection, request: H2Request, apns_id: str, draw: Draw) -> None:
        reason = draw.code or "InternalServerError"
        status = STATUS.get(reason, 500)
        if reason == "ExpiredProviderToken" and conn in self._auth:
            self._auth[conn].expired = True
        self._reply(conn, request.stream_id, apns_id, status, reason, token=_token_of(request))
        if reason == "Shutdown":
            conn.shutdown()

    def _reply(
        self,
        conn: H2ServerConnection,
        stream_id: int,
        apns_id: str,
        status: int,
        reason: str,
        *,
        token: str = "",
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body: dict[str, object] = {"reason": reason}
        if status == 410:
            self._revoked_at.setdefault(token, int(self.clock() * 1000))
            body["timestamp"] = self._revoked_at[token]
        headers = [
            (b"apns-id", apns_id.encode()),
            (b"content-type", b"application/json; charset=utf-8"),
            *(extra or []),
        ]
        conn.respond(stream_id, status, headers, orjson.dumps(body))

    def _record(self, h: dict[str, str], body: bytearray, apns_id: str) -> None:
        try:
            parsed: object = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = body.decode("utf-8", "replace")
        client_id = h.get("apns-id")
        self.inbox.record(
            InboxEntry(
                provider="apns",
                destination=h[":path"].removeprefix("/3/device/"),
                message_id=apns_id,
                key=uuid.UUID(client_id).hex if client_id else None,
                collapse_key=h.get("apns-collapse-id"),
                headers={k: v for k, v in h.items() if not k.startswith(":") and k != "authorization"},
                body=parsed,
            )
        )


def _header_map(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], bool]:
    """Headers by name, and whether any was repeated (APNs: DuplicateHeaders)."""
    headers: dict[str, str] = {}
    duplicated = False
    for name, value in raw:
        key = name.decode("ascii", "replace")
        if key in headers and name not in _REPEATABLE:
            duplicated = True
        headers[key] = value.decode("utf-8", "replace")
    return headers, duplicated


def _token_of(request: H2Request) -> str:
    for name, value in request.headers:
        if name == b":path":
            return value.decode("utf-8", "replace").removeprefix("/3/device/")
    return ""
