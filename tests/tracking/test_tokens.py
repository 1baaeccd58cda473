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


def test_a_token_reveals_neither_the_delivery_nor_the_url() -> None:
    token = CODEC.seal(Kind.CLICK, DELIVERY, URL)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert DELIVERY.bytes not in raw and DELIVERY.hex not in token
    assert b"shop.example" not in raw and "shop" not in token
    # Two tokens for the same thing differ (a fresh nonce each): links cannot be correlated.
    assert CODEC.seal(Kind.OPEN, DELIVERY) != CODEC.seal(Kind.OPEN, DELIVERY)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("position", [0, 1, 5, 13, 20, 30, -1])
def test_any_altered_character_is_refused(position: int) -> None:
    token = CODEC.seal(Kind.CLICK, DELIVERY, URL)
    i = position % len(token)
    altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    assert CODEC.open(altered, Kind.CLICK) is None


def test_truncated_extended_and_garbage_tokens_are_refused() -> None:
    token = CODEC.seal(Kind.OPEN, DELIVERY)
    candidates: tuple[str, ...] = (token[:-1], token[:-4], token[:20], token + "A", token + "AAAA", token + "=")
    candidates += ("", "x", "!!!!", "a" * 10_000)
    for bad in candidates:
        assert CODEC.open(bad, Kind.OPEN) is None, bad


def test_a_token_of_another_kind_or_key_is_refused() -> None:
    opened = CODEC.seal(Kind.OPEN, DELIVERY)
    assert CODEC.open(opened, Kind.CLICK) is None
    assert CODEC.open(opened, Kind.UNSUBSCRIBE) is None
    assert CODEC.open(CODEC.seal(Kind.UNSUBSCRIBE, DELIVERY), Kind.OPEN) is None
    assert TokenCodec("another-deployment").open(opened, Kind.OPEN) is None


def test_a_click_token_only_ever_leads_to_a_web_url() -> None:
    for url in ("javascript:alert(1)", "mailto:a@b.c", "https://x.example/a\r\nSet-Cookie: a=b", "//evil.example"):
        assert CODEC.open(CODEC.seal(Kind.CLICK, DELIVERY, url), Kind.CLICK) is None, url
    # An open token carries no URL, so it cannot be made into a redirect.
    assert CODEC.open(CODEC.seal(Kind.OPEN, DELIVERY, URL), Kind.OPEN) is None


def test_the_longest_link_fits_in_a_token() -> None:
    url = "https://x.example/" + "a" * (MAX_URL - 18)
    assert CODEC.open(CODEC.seal(Kind.CLICK, uuid.uuid4(), url), Kind.CLICK) is not None
