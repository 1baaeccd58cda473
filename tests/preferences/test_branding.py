"""The page's text on an app's colour is always readable: WCAG 2.x contrast, AA (4.5:1)."""

from __future__ import annotations

import itertools

import pytest

from herald.preferences.branding import AA, Palette, contrast, luminance, text_on


def test_contrast_matches_the_wcag_reference_values() -> None:
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-fails-AA grey
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert luminance("#ffffff") == pytest.approx(1.0) and luminance("#000000") == 0.0


def test_every_colour_gets_text_that_reaches_aa() -> None:
    steps = range(0, 256, 15)
    worst = min(
        contrast(colour, text_on(colour))
        for colour in (f"#{r:02x}{g:02x}{b:02x}" for r, g, b in itertools.product(steps, steps, steps))
    )
    assert worst >= AA


@pytest.mark.parametrize(("colour", "text"), [("#ffee58", "#1a1a1a"), ("#7a1fa2", "#ffffff"), ("#ffffff", "#1a1a1a")])
def test_light_colours_get_dark_text_and_dark_ones_white(colour: str, text: str) -> None:
    assert text_on(colour) == text


def test_a_mid_grey_where_the_soft_black_falls_short_gets_pure_black_or_white() -> None:
    # On #757575 neither #1a1a1a nor white reaches 4.5:1 by much; whichever is chosen does.
    for grey in ("#6f6f6f", "#727272", "#757575", "#787878"):
        assert contrast(grey, text_on(grey)) >= AA


def test_no_colour_is_the_default_accent() -> None:
    palette = Palette.of(None)
    assert contrast(palette.accent, palette.on_accent) >= AA
    assert Palette.of("#ABCDEF").accent == "#abcdef"
