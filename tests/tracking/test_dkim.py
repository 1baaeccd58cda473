"""DKIM on Herald's own SMTP path: what the sandbox received verifies with dkimpy against the
published key, with the List-Unsubscribe headers covered; a tampered header fails."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from typing import Any

import dkim
import pytest
from aiosmtpd.smtp import Envelope
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from herald.api.deps import forget_credentials
from herald.config import DkimKey, Settings
from herald.providers.dkim import DkimSigner
from herald.providers.smtp import SmtpAdapter
from herald.runtime import build_runtime
from herald.sandbox.inbox import Inbox
from herald.sandbox.smtp import SmtpSimulator
from tests.harness import Herald, client_for
from tests.tracking.test_engagement import TEMPLATE

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dns(name: bytes, timeout: int = 5) -> bytes:
    """The TXT record a receiver would find: s1._domainkey.herald.localhost."""
    import base64

    assert name == b"s1._domainkey.herald.localhost.", name
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(PUBLIC)


class RawSmtp(SmtpSimulator):
    """The sandbox, keeping each message's bytes as received."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__(inbox)
        self.raw: list[bytes] = []

    def record(self, envelope: Envelope, queued_as: str) -> None:
        content = envelope.original_content or envelope.content or b""
        self.raw.append(content if isinstance(content, bytes) else content.encode())
        super().record(envelope, queued_as)


@pytest.fixture
async def signed(settings: Settings, inbox: Inbox) -> AsyncIterator[tuple[Herald, RawSmtp]]:
    sim = RawSmtp(inbox)
    await sim.start()
    signer = DkimSigner({"herald.localhost": DkimKey(selector="s1", private_key=SecretStr(PEM.decode()))})
    rt = build_runtime(settings, adapters=[SmtpAdapter(sim.adapter_config(), dkim=signer)], single_process=True)
    client = await client_for(rt, "signed")
    yield Herald(rt, client, inbox), sim
    await client.aclose()
    await rt.close()
    await sim.stop()
    forget_credentials()


async def test_the_received_message_verifies_and_a_tampered_one_does_not(signed: tuple[Herald, RawSmtp]) -> None:
    herald, sim = signed
    await herald.user()
    await herald.template("tracked", TEMPLATE)
    r = await herald.notify(template="tracked", category="orders")
    assert r.status_code == 202
    await herald.drain()
    [raw] = sim.raw
    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=dns)
    signature = email.message_from_bytes(raw)["DKIM-Signature"].encode()
    fields = dkim.util.parse_tag_value(signature)
    covered = re.sub(rb"\s", b"", fields[b"h"]).split(b":")
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"):
        assert name in covered, (name, covered)
    assert (fields[b"d"], fields[b"s"], fields[b"a"]) == (b"herald.localhost", b"s1", b"rsa-sha256")
    for before, after in (
        (b"Subject: Order 7", b"Subject: Order 8"),
        (b"List-Unsubscribe: <", b"List-Unsubscribe: <x"),
    ):
        assert before in raw
        assert not dkim.verify(raw.replace(before, after, 1), dnsfunc=dns)


def test_a_domain_without_a_key_is_sent_unsigned() -> None:
    signer = DkimSigner({"example.com": DkimKey(selector="s1", private_key=SecretStr(PEM.decode()))})
    raw = b"From: a@herald.localhost\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert signer.sign(raw, "herald.localhost") == raw
    assert signer.sign(raw.replace(b"herald.localhost", b"example.com"), "example.com").startswith(b"DKIM-Signature")


def test_the_key_is_given_once_inline_or_by_file(tmp_path: Any) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(PEM)
    assert DkimKey(selector="s1", private_key_file=path).pem() == PEM
    with pytest.raises(ValueError):
        DkimKey(selector="s1")
    with pytest.raises(ValueError):
        DkimKey(selector="s1", private_key=SecretStr("x"), private_key_file=path)
    assert "BEGIN" not in repr(DkimKey(selector="s1", private_key=SecretStr(PEM.decode())))
