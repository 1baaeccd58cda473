"""SMS segment counting: GSM-7 and its extension table, UCS-2 and surrogate pairs."""

from __future__ import annotations

import pytest

from herald.channels.registry import spec
from herald.channels.sms import RenderedSms
from herald.kit.channels import Channel
from herald.kit.errors import RenderLimit
from herald.templates.render import render
from herald.templates.sms import Segments, segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segments("gsm7", 0, 1)),
        ("a" * 160, Segments("gsm7", 160, 1)),
        ("a" * 161, Segments("gsm7", 161, 2)),
        ("a" * 306, Segments("gsm7", 306, 2)),
        ("a" * 307, Segments("gsm7", 307, 3)),
        ("Hello @£$¥ èé\nÆ", Segments("gsm7", 15, 1)),
    ],
)
def test_gsm7_takes_160_alone_and_153_a_segment(text: str, expected: Segments) -> None:
    assert segments(text) == expected


def test_extension_characters_cost_two_septets_and_are_never_split() -> None:
    assert segments("€" * 80) == Segments("gsm7", 160, 1)
    assert segments("{}" * 41) == Segments("gsm7", 164, 2)
    # 152 septets, then an escape pair that does not fit in the 153rd: it opens the second
    # segment, which leaves one character for a third (a plain division would say 2).
    assert segments("a" * 152 + "€" + "a" * 152) == Segments("gsm7", 306, 3)
    assert segments("a" * 151 + "€" + "a" * 153) == Segments("gsm7", 306, 2)


def test_one_character_outside_gsm7_sends_all_as_ucs2() -> None:
    assert segments("я" * 70) == Segments("ucs2", 70, 1)
    assert segments("я" * 71) == Segments("ucs2", 71, 2)
    assert segments("я" * 134) == Segments("ucs2", 134, 2)
    assert segments("я" * 135) == Segments("ucs2", 135, 3)
    assert segments("a" * 100 + "я").encoding == "ucs2"
    assert segments("a" * 69 + "`") == Segments("ucs2", 70, 1)  # the backtick is not GSM-7


def test_an_emoji_is_two_units_and_a_pair_is_never_split() -> None:
    assert segments("😀" * 35) == Segments("ucs2", 70, 1)
    assert segments("😀" * 36) == Segments("ucs2", 72, 2)
    assert segments("a" * 66 + "😀" + "a" * 66) == Segments("ucs2", 134, 3)
    assert segments("a" * 65 + "😀" + "a" * 67) == Segments("ucs2", 134, 2)


def test_a_rendered_sms_knows_its_segments() -> None:
    out = render(spec(Channel.SMS), {"text": "{{ word }} " * 20}, {"word": "Привет"})
    assert isinstance(out, RenderedSms)
    assert out.segments == Segments("ucs2", 140, 3)


def test_an_sms_is_at_most_1600_utf16_units() -> None:
    assert render(spec(Channel.SMS), {"text": "{{ 'x' * 1600 }}"}, {}) == RenderedSms("x" * 1600)
    assert render(spec(Channel.SMS), {"text": "{{ e * 800 }}"}, {"e": "😀"}) == RenderedSms("😀" * 800)
    with pytest.raises(RenderLimit) as exc:
        render(spec(Channel.SMS), {"text": "{{ e * 801 }}"}, {"e": "😀"})
    assert exc.value.field == "sms.text" and "1602" in exc.value.message.replace(",", "")
    with pytest.raises(RenderLimit):
        render(spec(Channel.SMS), {"text": "{{ 'x' * 1601 }}"}, {})
