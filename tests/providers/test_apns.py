"""APNs adapter against the APNs sandbox: HTTP/2 over TLS, token auth, every documented reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from pydantic import SecretStr, ValidationError

import herald.sandbox.apns as apns_sandbox
from herald.kit.egress import EgressPolicy
from herald.providers.apns import ApnsAdapter, ApnsConfig, H2Pool, ProviderToken, tls_context
from herald.providers.messages import PushMessage
from herald.providers.outcome import (
    DeadAddress,
    Delivered,
    PermanentFailure,
    RetryLater,
    UnknownOutcome,
)
from herald.sandbox.apns import ApnsSimulator
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from tests.network import Listener, fake_dns

TOKEN = "a1" * 32
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def push(**fields: object) -> PushMessage:
    values: dict[str, object] = {
        "key": uuid.uuid4().hex,
        "platform": "ios",
        "token": TOKEN,
        "title": "Hello",
        "body": "World",
    }
    return PushMessage(**{**values, **fields})  # type: ignore[arg-type]


@pytest.fixture
async def sim() -> AsyncIterator[ApnsSimulator]:
    simulator = ApnsSimulator(Inbox())
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def adapter(sim: ApnsSimulator) -> AsyncIterator[ApnsAdapter]:
    a = ApnsAdapter(sim.adapter_config())
    yield a
    await a.close()


# --- success -------------------------------------------------------------------------------


async def test_delivered_with_apns_id_and_key_in_inbox(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    message = push(data={"thread": "42"}, priority="normal", ttl_seconds=600)
    outcome = await adapter.send(message)
    assert outcome == Delivered(message.key_uuid)
    [entry] = sim.inbox.entries(provider="apns")
    assert (entry.destination, entry.key, entry.collapse_key) == (TOKEN, message.key, message.key)
    assert entry.message_id == message.key_uuid
    assert entry.body == {"aps": {"alert": {"title": "Hello", "body": "World"}, "sound": "default"}, "thread": "42"}
    assert entry.headers["apns-topic"] == "com.herald.sandbox"
    assert entry.headers["apns-push-type"] == "alert"
    assert entry.headers["apns-priority"] == "5"
    assert abs(int(entry.headers["apns-expiration"]) - (time.time() + 600)) < 60
    assert "authorization" not in entry.headers


async def test_resend_replaces_on_the_device(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    message = push()
    assert isinstance(await adapter.send(message), Delivered)
    assert isinstance(await adapter.send(message), Delivered)
    assert len(sim.inbox.entries(destination=TOKEN)) == 2
    assert len(sim.inbox.visible(TOKEN)) == 1


async def test_300_concurrent_sends_share_one_connection(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    messages = [push() for _ in range(300)]
    outcomes = await asyncio.gather(*(adapter.send(m) for m in messages))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert [o.provider_message_id for o in outcomes if isinstance(o, Delivered)] == [m.key_uuid for m in messages]
    assert sim.connections_opened == 1 and adapter.connections_opened == 1
    assert set(sim.inbox.count_by_key()) == {m.key for m in messages}


async def test_waits_for_a_free_stream_at_the_servers_limit(
    sim: ApnsSimulator, adapter: ApnsAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # h2 on the server side kills the connection if a client opens more streams than allowed.
    monkeypatch.setattr(apns_sandbox, "STREAMS_AFTER_AUTH", 3)
    sim.faults.configure(FaultSettings(latency_ms=20))
    outcomes = await asyncio.gather(*(adapter.send(push()) for _ in range(40)))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert sim.connections_opened == 1


async def test_flow_control_with_large_bodies(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    # 100 x ~4 KB is far past the 64 KB initial window: sends must wait for WINDOW_UPDATEs.
    outcomes = await asyncio.gather(*(adapter.send(push(body="x" * 3900)) for _ in range(100)))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(sim.inbox) == 100


async def test_pool_of_connections(sim: ApnsSimulator) -> None:
    adapter = ApnsAdapter(sim.adapter_config(connections=3))
    try:
        outcomes = await asyncio.gather(*(adapter.send(push()) for _ in range(60)))
    finally:
        await adapter.close()
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert sim.connections_opened == 3


# --- every documented reason ---------------------------------------------------------------

DEAD = {"BadDeviceToken", "DeviceTokenNotForTopic", "ExpiredToken", "Unregistered"}
RETRY = {"TooManyProviderTokenUpdates", "TooManyRequests", "InternalServerError", "ServiceUnavailable", "Shutdown"}


@pytest.mark.parametrize("reason", sorted(apns_sandbox.STATUS))
async def test_every_reason_maps_to_its_outcome(reason: str, sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    sim.faults.configure(FaultSettings(error_rates={reason: 1.0}))
    outcome = await adapter.send(push())
    expected = DeadAddress if reason in DEAD else RetryLater if reason in RETRY else PermanentFailure
    assert type(outcome) is expected
    assert outcome.code == reason
    if apns_sandbox.STATUS[reason] == 410:
        assert isinstance(outcome, DeadAddress) and outcome.since is not None
    assert len(sim.inbox) == 0


async def test_expired_provider_token_is_retried_once_with_a_new_token(
    sim: ApnsSimulator, adapter: ApnsAdapter
) -> None:
    sim.faults.configure(FaultSettings(error_rates={"ExpiredProviderToken": 1.0}))
    assert await adapter.send(push()) == PermanentFailure("ExpiredProviderToken", '{"reason":"ExpiredProviderToken"}')
    assert sim.requests == 2


async def test_shutdown_goaway_then_reconnect(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    sim.faults.configure(FaultSettings(error_rates={"Shutdown": 1.0}))
    assert isinstance(await adapter.send(push()), RetryLater)
    sim.faults.reset()
    assert isinstance(await adapter.send(push()), Delivered)
    assert sim.connections_opened == 2


async def test_retry_after_is_honoured(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    sim.faults.configure(FaultSettings(throttle_count=1, throttle_retry_after=7))
    outcome = await adapter.send(push())
    assert isinstance(outcome, RetryLater)
    assert (outcome.code, outcome.retry_after) == ("TooManyRequests", 7.0)
    assert isinstance(await adapter.send(push()), Delivered)


async def test_revoked_token_is_dead_since_the_410_timestamp() -> None:
    clock = Clock()
    sim = ApnsSimulator(Inbox(), clock=clock)
    await sim.start()
    adapter = ApnsAdapter(sim.adapter_config(), clock=clock)
    try:
        sim.faults.revoked.add(TOKEN)
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
        await sim.stop()
    assert isinstance(outcome, DeadAddress) and outcome.code == "Unregistered"
    assert outcome.since == datetime.fromtimestamp(T0, tz=UTC)


async def test_device_token_for_another_topic_is_dead(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    sim.topics.add("com.other.app")
    sim.device_topics[TOKEN] = "com.other.app"
    outcome = await adapter.send(push())
    assert isinstance(outcome, DeadAddress) and outcome.code == "DeviceTokenNotForTopic"


async def test_malformed_token_is_dead(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    outcome = await adapter.send(push(token="abcd"))
    assert isinstance(outcome, DeadAddress) and outcome.code == "BadDeviceToken"
    local = await adapter.send(push(token="not/a token"))
    assert isinstance(local, DeadAddress) and local.code == "BadDeviceToken"
    assert sim.requests == 1


async def test_topic_not_of_this_team_is_refused(sim: ApnsSimulator) -> None:
    adapter = ApnsAdapter(sim.adapter_config(topic="com.someone.else"))
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "TopicDisallowed"


async def test_oversized_payload_is_refused_without_sending(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    outcome = await adapter.send(push(body="x" * 4100))
    assert isinstance(outcome, PermanentFailure) and outcome.code == "PayloadTooLarge"
    assert sim.requests == 0


async def test_other_platforms_are_refused(adapter: ApnsAdapter) -> None:
    assert isinstance(await adapter.send(push(platform="android")), PermanentFailure)


# --- transport failures --------------------------------------------------------------------


async def test_accept_then_drop_is_unknown(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    sim.faults.configure(FaultSettings(drop_rate=1.0))
    message = push()
    outcome = await adapter.send(message)
    assert isinstance(outcome, UnknownOutcome)
    assert [e.key for e in sim.inbox.entries()] == [message.key]


async def test_connection_lost_mid_flight_is_unknown_then_reconnects(sim: ApnsSimulator, adapter: ApnsAdapter) -> None:
    assert isinstance(await adapter.send(push()), Delivered)
    sim.faults.configure(FaultSettings(latency_ms=2000))
    sends = [asyncio.ensure_future(adapter.send(push())) for _ in range(5)]
    async with asyncio.timeout(5):
        while sim.in_flight < 5:
            await asyncio.sleep(0.01)
    sim.drop_connections()
    outcomes = await asyncio.gather(*sends)
    assert all(o == UnknownOutcome("connection_lost", o.detail) for o in outcomes)
    sim.faults.reset()
    assert isinstance(await adapter.send(push()), Delivered)
    assert sim.connections_opened == 2


async def test_timeout_is_unknown(sim: ApnsSimulator) -> None:
    adapter = ApnsAdapter(sim.adapter_config(timeout=0.3))
    sim.faults.configure(FaultSettings(latency_ms=3000))
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
    assert isinstance(outcome, UnknownOutcome) and outcome.code == "timeout"


async def test_connect_failure_is_retry_later(sim: ApnsSimulator) -> None:
    config = sim.adapter_config()
    await sim.stop()
    adapter = ApnsAdapter(config)
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
    assert isinstance(outcome, RetryLater) and outcome.code == "connect_error"


async def test_untrusted_certificate_is_a_connect_error(sim: ApnsSimulator) -> None:
    adapter = ApnsAdapter(sim.adapter_config(ca_pem=None))
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
    assert isinstance(outcome, RetryLater) and outcome.code == "connect_error"


# --- provider token ------------------------------------------------------------------------


def _foreign_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


async def test_jwt_verifies_with_pyjwt(sim: ApnsSimulator) -> None:
    config = sim.adapter_config()
    token = ProviderToken(config).current()
    private = load_pem_private_key(config.private_key.get_secret_value().encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    claims = jwt.decode(token, private.public_key(), algorithms=["ES256"])
    assert claims["iss"] == config.team_id and abs(claims["iat"] - time.time()) < 5
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": config.key_id}


def test_token_is_cached_until_refresh_is_due() -> None:
    clock = Clock()
    sim = ApnsSimulator(Inbox())
    tokens = ProviderToken(sim.adapter_config(token_refresh=1800), clock)
    first = tokens.current()
    clock.now += 1799
    assert tokens.current() == first
    clock.now += 1
    second = tokens.current()
    assert second != first
    assert tokens.renew(first) == second  # a stale rejection does not mint again
    assert tokens.renew(second) != second


@pytest.mark.parametrize("refresh", [1199, 3601])
def test_token_refresh_must_be_within_20_to_60_minutes(refresh: float) -> None:
    with pytest.raises(ValidationError):
        ApnsSimulator(Inbox()).adapter_config(token_refresh=refresh)


@pytest.mark.parametrize("tamper", ["unknown_kid", "wrong_team", "wrong_signer"])
async def test_bad_credentials_are_invalid_provider_token(tamper: str, sim: ApnsSimulator) -> None:
    config = sim.adapter_config()
    if tamper == "unknown_kid":
        config = config.model_copy(update={"key_id": "ZZZZZZZZZZ"})
    elif tamper == "wrong_team":
        config = config.model_copy(update={"team_id": "OTHERTEAM1"})
    else:
        config = config.model_copy(update={"private_key": SecretStr(_foreign_key())})
    adapter = ApnsAdapter(config)
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "InvalidProviderToken"


async def _clocked(token_refresh: float = 3000) -> tuple[ApnsSimulator, ApnsAdapter, Clock, Clock]:
    sim_clock, adapter_clock = Clock(), Clock()
    sim = ApnsSimulator(Inbox(), clock=sim_clock)
    await sim.start()
    adapter = ApnsAdapter(sim.adapter_config(token_refresh=token_refresh), clock=adapter_clock)
    return sim, adapter, sim_clock, adapter_clock


async def test_refreshed_token_after_50_minutes_is_accepted() -> None:
    sim, adapter, sim_clock, adapter_clock = await _clocked()
    try:
        assert isinstance(await adapter.send(push()), Delivered)
        sim_clock.now = adapter_clock.now = T0 + 3000
        assert isinstance(await adapter.send(push()), Delivered)
        assert sim.requests == 2
    finally:
        await adapter.close()
        await sim.stop()


async def test_expired_token_is_refreshed_and_the_send_retried() -> None:
    sim, adapter, sim_clock, adapter_clock = await _clocked(token_refresh=3600)
    try:
        assert isinstance(await adapter.send(push()), Delivered)
        adapter_clock.now, sim_clock.now = T0 + 3590, T0 + 3700  # skewed: APNs thinks it expired
        assert isinstance(await adapter.send(push()), Delivered)
        assert sim.requests == 3
    finally:
        await adapter.close()
        await sim.stop()


async def test_token_older_than_an_hour_is_expired() -> None:
    sim, adapter, sim_clock, _ = await _clocked()
    sim_clock.now = T0 + 3601
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
        await sim.stop()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "ExpiredProviderToken"
    assert sim.requests == 2  # the one refresh-and-retry


async def test_reconnect_then_scheduled_refresh_is_accepted() -> None:
    sim, adapter, sim_clock, adapter_clock = await _clocked()
    try:
        assert isinstance(await adapter.send(push()), Delivered)
        sim_clock.now = adapter_clock.now = T0 + 2700
        sim.drop_connections()
        await asyncio.sleep(0.05)  # let the client see the reset
        assert isinstance(await adapter.send(push()), Delivered)  # new connection, same token
        sim_clock.now = adapter_clock.now = T0 + 3000
        assert isinstance(await adapter.send(push()), Delivered)  # refreshed on schedule
        assert sim.connections_opened == 2
    finally:
        await adapter.close()
        await sim.stop()


async def test_new_token_within_20_minutes_is_too_many_updates(sim: ApnsSimulator) -> None:
    config = sim.adapter_config()
    pool = H2Pool("127.0.0.1", sim.port, tls_context(sim.ca_pem))
    now = int(time.time())
    try:
        statuses = [
            await pool.request(_request(sim, config, iat=now + shift), b'{"aps":{}}', 5.0)
            for shift in (-3000, -1800, -1200, 0)
        ]
    finally:
        await pool.close()
    assert [(a.status, a.body) for a in statuses] == [
        (200, b""),
        (200, b""),
        (429, b'{"reason":"TooManyProviderTokenUpdates"}'),
        (200, b""),
    ]


# --- the simulator's own validation, driven by a hand-built request -------------------------


def _request(sim: ApnsSimulator, config: ApnsConfig, *, iat: int | None = None) -> list[tuple[bytes, bytes]]:
    """A request signed with PyJWT directly, independent of the adapter's token code."""
    private = load_pem_private_key(config.private_key.get_secret_value().encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    claims = {"iss": config.team_id, "iat": int(time.time()) if iat is None else iat}
    bearer = jwt.encode(
        claims,
        private,
        algorithm="ES256",
        headers={"kid": config.key_id},
    )
    return [
        (b":method", b"POST"),
        (b":path", f"/3/device/{TOKEN}".encode()),
        (b"authorization", f"bearer {bearer}".encode()),
        (b"apns-topic", b"com.herald.sandbox"),
        (b"apns-push-type", b"alert"),
        (b"apns-priority", b"10"),
        (b"apns-expiration", b"0"),
    ]


def _edit(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes | None) -> list[tuple[bytes, bytes]]:
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else [*kept, (name, value)]


CASES: list[tuple[str, int, bytes, bytes | None, bytes]] = [
    ("MethodNotAllowed", 405, b":method", b"GET", b"{}"),
    ("BadPath", 404, b":path", b"/3/notification/abc", b"{}"),
    ("MissingProviderToken", 403, b"authorization", None, b"{}"),
    ("InvalidProviderToken", 403, b"authorization", b"bearer not.a.jwt", b"{}"),
    ("MissingDeviceToken", 400, b":path", b"/3/device/", b"{}"),
    ("BadDeviceToken", 400, b":path", b"/3/device/xyz", b"{}"),
    ("MissingTopic", 400, b"apns-topic", None, b"{}"),
    ("TopicDisallowed", 400, b"apns-topic", b"com.not.mine", b"{}"),
    ("InvalidPushType", 400, b"apns-push-type", b"banner", b"{}"),
    ("BadMessageId", 400, b"apns-id", b"not-a-uuid", b"{}"),
    ("BadPriority", 400, b"apns-priority", b"7", b"{}"),
    ("BadExpirationDate", 400, b"apns-expiration", b"tomorrow", b"{}"),
    ("BadCollapseId", 400, b"apns-collapse-id", b"c" * 65, b"{}"),
    ("PayloadEmpty", 400, b"apns-id", None, b""),
    ("PayloadTooLarge", 413, b"apns-id", None, b"{" + b" " * 4096 + b"}"),
]


@pytest.mark.parametrize(("reason", "status", "name", "value", "body"), CASES)
async def test_simulator_validates_like_apns(
    sim: ApnsSimulator, reason: str, status: int, name: bytes, value: bytes | None, body: bytes
) -> None:
    config = sim.adapter_config()
    pool = H2Pool("127.0.0.1", sim.port, tls_context(sim.ca_pem))
    if name.startswith(b":"):
        headers = [(n, value) if n == name and value is not None else (n, v) for n, v in _request(sim, config)]
    else:
        headers = _edit(_request(sim, config), name, value)
    try:
        answer = await pool.request(headers, body, 5.0)
    finally:
        await pool.close()
    assert (answer.status, answer.body) == (status, b'{"reason":"%s"}' % reason.encode())
    assert len(sim.inbox) == 0


async def test_simulator_rejects_duplicate_headers_and_generates_ids(sim: ApnsSimulator) -> None:
    config = sim.adapter_config()
    pool = H2Pool("127.0.0.1", sim.port, tls_context(sim.ca_pem))
    try:
        dup = await pool.request([*_request(sim, config), (b"apns-topic", b"com.herald.sandbox")], b"{}", 5.0)
        ok = await pool.request(_request(sim, config), b'{"aps":{}}', 5.0)
    finally:
        await pool.close()
    assert (dup.status, dup.body) == (400, b'{"reason":"DuplicateHeaders"}')
    assert ok.status == 200 and ok.body == b""
    assert str(uuid.UUID(ok.headers["apns-id"])) == ok.headers["apns-id"]  # lowercase canonical
    [entry] = sim.inbox.entries()
    assert entry.key is None and entry.message_id == ok.headers["apns-id"]


def test_delivers_under_uvloop() -> None:
    """`herald run` and the production processes run on uvloop, whose TLS transport is not an
    `asyncio.Transport` subclass: the HTTP/2 client and the simulator must work over it too."""
    import uvloop

    async def one_send() -> object:
        simulator = ApnsSimulator(Inbox())
        await simulator.start()
        a = ApnsAdapter(simulator.adapter_config())
        try:
            return await a.send(push())
        finally:
            await a.close()
            await simulator.stop()

    assert isinstance(uvloop.run(one_send()), Delivered)


# --- the egress rules, for an app's own APNs account -------------------------------------


async def test_a_guarded_account_delivers_to_the_address_it_checked(sim: ApnsSimulator) -> None:
    """The guard opens the socket itself; TLS still checks the certificate against the host name."""
    adapter = ApnsAdapter(sim.adapter_config(), egress=EgressPolicy().accounts)
    try:
        assert isinstance(await adapter.send(push()), Delivered)
    finally:
        await adapter.close()


async def test_a_host_rebound_to_loopback_is_refused_without_connecting(
    sim: ApnsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = await Listener().start()
    fake_dns(monkeypatch, {"apns.rebind.test": "127.0.0.1"})
    config = sim.adapter_config(f"https://apns.rebind.test:{listener.port}")
    adapter = ApnsAdapter(config, egress=EgressPolicy(production=True).accounts)
    try:
        outcome = await adapter.send(push())
    finally:
        await adapter.close()
        await listener.stop()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "egress_denied", outcome
    assert listener.connections == 0
