"""Tracking tokens: authenticated, opaque, bound to their kind and their key."""

from __future__ import annotations

import base64
import uuid

import pytest

from herald.kit.ids import uuid7
from herald.tracking.tokens import MAX_URL, Claim, Kind, TokenCodec

CODEC = TokenCodec("test-secret-key")
DELIVERY = uuid7()
URL = "https://shop.example/orders/7?utm_source=mail&x=%20y"


def test_a_token_opens_to_its_delivery_and_url() -> None:
    assert CODEC.open(CODEC.seal(Kind.OPEN, DELIVERY), Kind.OPEN) == Claim(DELIVERY)
    assert CODEC.open(CODEC.seal(Kind.CLICK, DELIVERY, URL), Kind.CLICK) == Claim(DELIVERY, URL)
    assert CODEC.open(CODEC.seal(Kind.UNSUBSCRIBE, DELIVERY), Kind.UNSUBSCRIBE) == Claim(DELIVERY)


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_never_reveals_the_delivery() -> None:
    for token in (CODEC.seal(Kind.CLICK, DELIVERY, URL), CODEC.seal(Kind.OPEN, DELIVERY)):
        assert DELIVERY.bytes not in raw(token) and DELIVERY.hex not in token
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # Two tokens for the same thing differ (a fresh nonce each): emails cannot be correlated.
    assert CODEC.seal(Kind.OPEN, DELIVERY) != CODEC.seal(Kind.OPEN, DELIVERY)
    assert CODEC.seal(Kind.CLICK, DELIVERY, URL) != CODEC.seal(Kind.CLICK, DELIVERY, URL)


def test_a_click_token_carries_its_url_after_one_sealed_head_per_email() -> None:
    seal = CODEC.clicks(DELIVERY)
    a, b = seal(URL), seal("https://shop.example/help")
    # Version 2: the URL itself (no secret: the recipient sees it), the delivery id sealed.
    assert raw(a)[0] == 2 and raw(a).endswith(URL.encode())
    head = 60  # base64 of version, nonce and the sealed id (45 bytes)
    assert a[:head] == b[:head] and a[head:] != b[head:]
    assert CODEC.clicks(DELIVERY)(URL)[:head] != a[:head]  # another email: another seal
    assert CODEC.open(a, Kind.CLICK) == Claim(DELIVERY, URL)
    assert CODEC.open(b, Kind.CLICK) == Claim(DELIVERY, "https://shop.example/help")


def test_a_click_token_url_cannot_be_changed_or_moved_to_another_email() -> None:
    token = CODEC.clicks(DELIVERY)(URL)
    data = raw(token)
    evil = b"https://evil.example/orders/7?utm_source=mail&x=%20y"
    assert CODEC.open(b64(data[: -len(URL)] + evil), Kind.CLICK) is None  # same length, other host
    assert CODEC.open(b64(data[:-1]), Kind.CLICK) is None  # the URL truncated
    assert CODEC.open(b64(data + b"x"), Kind.CLICK) is None  # or extended
    # Another email's sealed head with this link's MAC and URL: the MAC covers the head.
    other = raw(CODEC.clicks(uuid7())(URL))
    assert CODEC.open(b64(other[:45] + data[45:]), Kind.CLICK) is None
    # A head of this deployment, a MAC made with another key: refused.
    foreign = raw(TokenCodec("another-deployment").clicks(DELIVERY)(URL))
    assert CODEC.open(b64(data[:45] + foreign[45:]), Kind.CLICK) is None


def test_click_tokens_of_version_1_still_open() -> None:
    """Links in email sent before version 2 keep working, with their own checks."""
    old = CODEC.seal_v1(Kind.CLICK, DELIVERY, URL)
    assert raw(old)[0] == 1 and b"shop" not in raw(old)
    assert CODEC.open(old, Kind.CLICK) == Claim(DELIVERY, URL)
    assert CODEC.open(old[:-2], Kind.CLICK) is None
    assert CODEC.open(CODEC.seal_v1(Kind.CLICK, DELIVERY, "javascript:alert(1)"), Kind.CLICK) is None
    assert TokenCodec("another-deployment").open(old, Kind.CLICK) is None


@pytest.mark.parametrize("position", [0, 1, 5, 13, 20, 30, 60, 75, 76, 80, 90, 100, -1])
def test_any_altered_character_is_refused(position: int) -> None:
    token = CODEC.seal(Kind.CLICK, DELIVERY, URL)
    i = position % len(token)
    altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    assert CODEC.open(altered, Kind.CLICK) is None


def test_truncated_extended_and_garbage_tokens_are_refused() -> None:
    for kind, token in (
        (Kind.OPEN, CODEC.seal(Kind.OPEN, DELIVERY)),
        (Kind.CLICK, CODEC.seal(Kind.CLICK, DELIVERY, URL)),
    ):
        candidates: tuple[str, ...] = (token[:-1], token[:-4], token[:20], token + "A", token + "AAAA", token + "=")
        candidates += (token[: len(token) // 2], token[:60], token[:76], "", "x", "!!!!", "a" * 10_000)
        candidates = tuple(c for c in candidates if c != token)
        for bad in candidates:
            assert CODEC.open(bad, kind) is None, bad


def test_a_token_of_another_kind_or_key_is_refused() -> None:
    opened = CODEC.seal(Kind.OPEN, DELIVERY)
    assert CODEC.open(opened, Kind.CLICK) is None
    assert CODEC.open(opened, Kind.UNSUBSCRIBE) is None
    assert CODEC.open(CODEC.seal(Kind.UNSUBSCRIBE, DELIVERY), Kind.OPEN) is None
    assert TokenCodec("another-deployment").open(opened, Kind.OPEN) is None
    clicked = CODEC.seal(Kind.CLICK, DELIVERY, URL)
    assert CODEC.open(clicked, Kind.OPEN) is None and CODEC.open(clicked, Kind.UNSUBSCRIBE) is None
    assert TokenCodec("another-deployment").open(clicked, Kind.CLICK) is None


def test_a_click_token_only_ever_leads_to_a_web_url() -> None:
    for url in ("javascript:alert(1)", "mailto:a@b.c", "https://x.example/a\r\nSet-Cookie: a=b", "//evil.example"):
        assert CODEC.open(CODEC.seal(Kind.CLICK, DELIVERY, url), Kind.CLICK) is None, url
    # An open token carries no URL, so it cannot be made into a redirect.
    assert CODEC.open(CODEC.seal(Kind.OPEN, DELIVERY, URL), Kind.OPEN) is None


def test_the_longest_link_fits_in_a_token() -> None:
    url = "https://x.example/" + "a" * (MAX_URL - 18)
    assert CODEC.open(CODEC.seal(Kind.CLICK, uuid.uuid4(), url), Kind.CLICK) is not None
