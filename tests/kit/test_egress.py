"""The egress rules on their own: the address test, URLs, allow-lists, resolution."""

from __future__ import annotations

import logging
import socket
from ipaddress import ip_address

import pytest
from pydantic import ValidationError

from herald.config import EgressSettings, Mode, Settings
from herald.kit.egress import Destination, EgressPolicy, EgressRefused, HostList, is_public, literal
from tests.network import fake_dns

PROD = EgressPolicy(production=True)
DEV = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # CGNAT
        ("0.0.0.0", False),
        ("::", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("fec0::1", False),  # deprecated site-local, global by Python 3.11's reading
        ("224.0.0.1", False),  # multicast, global by Python 3.11's reading
        ("ff0e::1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 wrapping 169.254.169.254
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1: reserved
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0x7f.1", "017700000001"])
def test_legacy_ipv4_spellings_are_the_addresses_they_become(host: str) -> None:
    assert literal(host) == ip_address("127.0.0.1")


def test_names_are_not_literals() -> None:
    assert literal("push.example.com") is None
    assert literal("fe80::1%eth0") is not None


def test_host_list_wildcards() -> None:
    hosts = HostList(["*.push.apple.com", "Relay.Internal."])
    assert hosts.matches("web.push.apple.com") and hosts.matches("a.b.push.apple.com")
    assert not hosts.matches("push.apple.com") and not hosts.matches("evilpush.apple.com")
    assert hosts.names("relay.internal") and not hosts.names("web.push.apple.com")
    assert not HostList() and hosts


# Web push endpoints


@pytest.mark.parametrize(
    "url",
    [
        "http://push.example.com/x",  # not https
        "ftp://push.example.com/x",
        "https://127.0.0.1/x",
        "https://127.1/x",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://10.0.0.5/x",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
        "https://[fd00::1]/x",
        "https://localhost/x",
        "https://api.localhost/x",
        "https:///x",
        "https://[::1/x",
    ],
)
def test_production_push_refuses(url: str) -> None:
    assert PROD.push.refusal(url) is not None


def test_production_push_accepts_a_public_https_endpoint() -> None:
    assert PROD.push.refusal("https://fcm.googleapis.com/fcm/send/abc") is None
    assert PROD.push.refusal("https://8.8.8.8/x") is None


@pytest.mark.parametrize(
    "url", ["https://10.0.0.5/x", "https://169.254.169.254/x", "https://[::ffff:127.0.0.1]/x", "http://push.example/x"]
)
def test_development_refuses_all_but_loopback(url: str) -> None:
    assert DEV.push.refusal(url) is not None


def test_development_allows_loopback_over_http_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    dev = EgressPolicy()
    with caplog.at_level(logging.WARNING, logger="herald.kit.egress"):
        assert dev.push.refusal("http://127.0.0.1:8025/wp/abc") is None
        assert dev.push.refusal("http://localhost:8025/wp/abc") is None
        assert dev.push.refusal("https://[::1]:8025/wp/abc") is None
    assert [r.message for r in caplog.records if "development mode" in r.message] != []
    assert len(caplog.records) == 1


def test_push_allow_list() -> None:
    policy = EgressPolicy(production=True, push_hosts=["fcm.googleapis.com", "*.push.apple.com"])
    assert policy.push.refusal("https://fcm.googleapis.com/fcm/send/x") is None
    assert policy.push.refusal("https://web.push.apple.com/x") is None
    reason = policy.push.refusal("https://push.example.com/x")
    assert reason is not None and "allow-list" in reason
    # Allow-listing picks push services; it never makes a private address acceptable.
    assert EgressPolicy(production=True, push_hosts=["10.0.0.5"]).push.refusal("https://10.0.0.5/x") is not None
    # Development's loopback exemption holds with a list too (the sandbox).
    assert EgressPolicy(push_hosts=["fcm.googleapis.com"]).push.refusal("http://127.0.0.1:8025/wp/x") is None


# An app's provider accounts


TWILIO = frozenset({"api.twilio.com"})


def dest(url: str) -> Destination:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return Destination("base_url", parts.hostname or "", parts.scheme)


def test_production_accounts_keep_to_the_providers_hosts() -> None:
    assert PROD.account_refusal(dest("https://api.twilio.com"), TWILIO) is None
    assert PROD.account_refusal(dest("https://twilio.example.net"), TWILIO) is not None
    assert PROD.account_refusal(dest("https://8.8.8.8"), TWILIO) is not None
    assert PROD.account_refusal(Destination("host", "smtp.example.net"), frozenset()) is not None


def test_production_accounts_may_name_allow_listed_hosts() -> None:
    policy = EgressPolicy(production=True, provider_hosts=["*.relay.example", "smtp.internal", "10.0.0.25"])
    assert policy.account_refusal(dest("https://sms.relay.example"), TWILIO) is None
    assert policy.account_refusal(Destination("host", "SMTP.internal."), frozenset()) is None
    assert policy.account_refusal(Destination("host", "10.0.0.25"), frozenset()) is None
    assert policy.account_refusal(Destination("host", "10.0.0.26"), frozenset()) is not None


def test_development_accounts_may_name_any_host_but_private_literals() -> None:
    assert DEV.account_refusal(dest("https://twilio.example.net"), TWILIO) is None
    assert DEV.account_refusal(dest("http://127.0.0.1:8025"), TWILIO) is None
    assert DEV.account_refusal(dest("http://169.254.169.254"), TWILIO) is not None
    assert DEV.account_refusal(dest("file:///etc/passwd"), TWILIO) is not None


def test_accounts_guard_lets_http_through_but_not_private_literals() -> None:
    assert PROD.accounts.refusal("http://api.twilio.com/x") is None
    assert PROD.accounts.refusal("http://10.0.0.5/x") is not None
    trusted = EgressPolicy(production=True, provider_hosts=["10.0.0.5"])
    assert trusted.accounts.refusal("http://10.0.0.5/x") is None


# Resolution at connect time


async def test_targets_keep_only_public_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"rebind.test": "127.0.0.1", "public.test": "8.8.8.8"})
    with pytest.raises(EgressRefused, match=r"127\.0\.0\.1"):
        await PROD.push.targets("rebind.test", 443)
    [(family, _, addr)] = await PROD.push.targets("public.test", 443)
    assert (family, addr[0]) == (socket.AF_INET, "8.8.8.8")
    # The development exemption covers loopback answers too, and nothing else.
    assert [t[2][0] for t in await EgressPolicy().push.targets("rebind.test", 443)] == ["127.0.0.1"]


async def test_trusted_names_resolve_anywhere_wildcards_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"relay.internal": "127.0.0.1", "sms.relay.example": "127.0.0.1"})
    policy = EgressPolicy(production=True, provider_hosts=["relay.internal", "*.relay.example"])
    assert [t[2][0] for t in await policy.accounts.targets("relay.internal", 25)] == ["127.0.0.1"]
    with pytest.raises(EgressRefused):
        await policy.accounts.targets("sms.relay.example", 443)


# Settings


def test_settings_build_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_MODE", "production")
    monkeypatch.setenv("HERALD_EGRESS__PUSH_HOSTS", '["FCM.googleapis.com", "*.push.apple.com"]')
    monkeypatch.setenv("HERALD_EGRESS__PROVIDER_HOSTS", '["relay.internal."]')
    settings = Settings()
    assert settings.egress == EgressSettings(
        provider_hosts=["relay.internal"], push_hosts=["fcm.googleapis.com", "*.push.apple.com"]
    )
    policy = EgressPolicy.from_settings(settings)
    assert policy.production and policy.provider_hosts.names("relay.internal")
    assert policy.push.refusal("https://push.example.com/x") is not None
    assert not EgressPolicy.from_settings(Settings(mode=Mode.DEVELOPMENT)).production


@pytest.mark.parametrize("entry", ["https://fcm.googleapis.com", "*", "*.com", "host:443", "a/b", ""])
def test_settings_refuse_what_is_not_a_hostname(entry: str) -> None:
    with pytest.raises(ValidationError):
        EgressSettings(push_hosts=[entry])
