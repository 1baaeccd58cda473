"""The SMTP adapter against a plain aiosmtpd server and against the sandbox's faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from herald.config import SmtpSettings
from herald.kit.egress import EgressPolicy
from herald.providers.messages import EmailMessage
from herald.providers.outcome import DeadAddress, Delivered, PermanentFailure, RetryLater, UnknownOutcome
from herald.providers.smtp import SmtpAdapter, classify_reply
from herald.sandbox.faults import FaultSettings
from herald.sandbox.inbox import Inbox
from herald.sandbox.smtp import SmtpSimulator
from tests.network import Listener, fake_dns

KEY = "0123456789abcdef0123456789abcdef"


def message(to: str = "bob@example.com") -> EmailMessage:
    return EmailMessage(key=KEY, to=to, subject="Hi", html="<p>Hi</p>", text="Hi", to_name="Bob")


class Collect:
    """A plain aiosmtpd handler: not ours, so it proves the adapter speaks standard SMTP."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content or b""
        assert isinstance(content, bytes)  # not decoded: the server runs without decode_data
        self.messages.append((list(envelope.rcpt_tos), content))
        return "250 OK"


@pytest.fixture
async def plain_server() -> AsyncIterator[tuple[Collect, int]]:
    handler = Collect()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    yield handler, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_delivers_to_plain_aiosmtpd(plain_server: tuple[Collect, int]) -> None:
    handler, port = plain_server
    adapter = SmtpAdapter(SmtpSettings(host="127.0.0.1", port=port))
    outcomes = [await adapter.send(message()) for _ in range(3)]
    await adapter.close()
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(handler.messages) == 3
    rcpts, raw = handler.messages[0]
    assert rcpts == ["bob@example.com"]
    assert f"Message-ID: <{KEY}@herald.localhost>".encode() in raw
    assert b"Subject: Hi" in raw and b"multipart/alternative" in raw


@pytest.fixture
async def sim() -> AsyncIterator[SmtpSimulator]:
    s = SmtpSimulator(Inbox(), username="herald", password="s3cret")
    await s.start()
    yield s
    await s.stop()


async def test_auth_is_checked(sim: SmtpSimulator) -> None:
    good = SmtpAdapter(sim.adapter_config())
    assert isinstance(await good.send(message()), Delivered)
    cfg = sim.adapter_config().model_copy(update={"password": None, "username": None})
    anonymous = SmtpAdapter(cfg)
    outcome = await anonymous.send(message())
    assert isinstance(outcome, PermanentFailure) and outcome.code == "5.7.0"
    from pydantic import SecretStr

    wrong = SmtpAdapter(sim.adapter_config().model_copy(update={"password": SecretStr("nope")}))
    outcome = await wrong.send(message())
    assert isinstance(outcome, PermanentFailure) and outcome.code == "535"
    for a in (good, anonymous, wrong):
        await a.close()
    assert len(sim.inbox.entries()) == 1


@pytest.mark.parametrize(
    ("code", "expected", "reason"),
    [
        ("421", RetryLater, "4.3.2"),
        ("450", RetryLater, "4.2.1"),
        ("451", RetryLater, "4.3.0"),
        ("452", RetryLater, "4.3.1"),
        ("550", DeadAddress, "5.1.1"),
        ("553", DeadAddress, "5.1.3"),
        ("554", PermanentFailure, "5.7.1"),
    ],
)
async def test_reply_codes_map_to_outcomes(
    sim: SmtpSimulator, code: str, expected: type[RetryLater | DeadAddress | PermanentFailure], reason: str
) -> None:
    sim.faults.configure(FaultSettings(error_rates={code: 1.0}))
    adapter = SmtpAdapter(sim.adapter_config())
    outcome: Any = await adapter.send(message())
    await adapter.close()
    assert isinstance(outcome, expected) and outcome.code == reason
    assert sim.inbox.entries() == []


async def test_revoked_mailbox_is_dead_and_throttle_is_transient(sim: SmtpSimulator) -> None:
    adapter = SmtpAdapter(sim.adapter_config())
    sim.faults.revoked.add("gone@example.com")
    dead = await adapter.send(message("gone@example.com"))
    assert isinstance(dead, DeadAddress) and dead.code == "5.1.1"
    sim.faults.configure(FaultSettings(throttle_count=1))
    assert isinstance(await adapter.send(message()), RetryLater)
    assert isinstance(await adapter.send(message()), Delivered)
    await adapter.close()


async def test_accept_then_drop_is_unknown_and_the_message_did_arrive(sim: SmtpSimulator) -> None:
    sim.faults.configure(FaultSettings(drop_rate=1.0))
    adapter = SmtpAdapter(sim.adapter_config())
    outcome = await adapter.send(message())
    await adapter.close()
    assert isinstance(outcome, UnknownOutcome)
    assert len(sim.inbox.entries()) == 1  # why an unknown outcome must not be blindly resent


async def test_connection_refused_is_a_plain_retry() -> None:
    adapter = SmtpAdapter(SmtpSettings(host="127.0.0.1", port=1, timeout=2))
    outcome = await adapter.send(message())
    assert isinstance(outcome, RetryLater) and outcome.code == "connect_error"


def test_classify_reply_without_enhanced_code() -> None:
    assert isinstance(classify_reply(550, "Mailbox unavailable"), DeadAddress)
    assert isinstance(classify_reply(552, "Too big"), PermanentFailure)
    assert isinstance(classify_reply(421, "Busy"), RetryLater)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_delivers_over_tls_with_auth(tls: str) -> None:
    """Port 587 (STARTTLS, then AUTH) and port 465 (TLS from the first byte), with the
    certificate checked against the server's CA."""
    sim = SmtpSimulator(Inbox(), username="herald", password="s3cret", tls=tls)  # type: ignore[arg-type]
    await sim.start()
    adapter = SmtpAdapter(sim.adapter_config(), ca_pem=sim.ca_pem)
    try:
        assert isinstance(await adapter.send(message()), Delivered)
        assert [e.destination for e in sim.inbox.entries()] == ["bob@example.com"]
    finally:
        await adapter.close()
        await sim.stop()


async def test_starttls_port_refuses_mail_in_the_clear() -> None:
    sim = SmtpSimulator(Inbox(), tls="starttls")
    await sim.start()
    adapter = SmtpAdapter(sim.adapter_config().model_copy(update={"tls": "none"}))
    try:
        outcome = await adapter.send(message())
        assert isinstance(outcome, PermanentFailure) and outcome.code.startswith("530"), outcome
        assert sim.inbox.entries() == []
    finally:
        await adapter.close()
        await sim.stop()


async def test_an_untrusted_certificate_is_not_sent_to() -> None:
    sim = SmtpSimulator(Inbox(), tls="implicit")
    await sim.start()
    adapter = SmtpAdapter(sim.adapter_config())  # the system's CAs: the sandbox's is not one
    try:
        outcome = await adapter.send(message())
        assert not isinstance(outcome, Delivered) and sim.inbox.entries() == []
    finally:
        await adapter.close()
        await sim.stop()


# The egress rules, for an app's own SMTP account


async def test_a_guarded_account_delivers_over_tls_to_the_address_it_checked() -> None:
    """The guard opens the socket itself; TLS still checks the certificate against the host name."""
    sim = SmtpSimulator(Inbox(), tls="implicit")
    await sim.start()
    adapter = SmtpAdapter(sim.adapter_config(), ca_pem=sim.ca_pem, egress=EgressPolicy().accounts)
    try:
        assert isinstance(await adapter.send(message()), Delivered)
        assert [e.destination for e in sim.inbox.entries()] == ["bob@example.com"]
    finally:
        await adapter.close()
        await sim.stop()


async def test_a_host_rebound_to_loopback_is_refused_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = await Listener().start()
    fake_dns(monkeypatch, {"smtp.rebind.test": "127.0.0.1"})
    config = SmtpSettings(host="smtp.rebind.test", port=listener.port, timeout=2)
    adapter = SmtpAdapter(config, egress=EgressPolicy(production=True).accounts)
    try:
        outcome = await adapter.send(message())
    finally:
        await adapter.close()
        await listener.stop()
    assert isinstance(outcome, PermanentFailure) and outcome.code == "egress_denied", outcome
    assert listener.connections == 0
