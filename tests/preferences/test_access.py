"""Page tokens name one user of one app for an hour, and cannot be read, altered or forged;
a form's CSRF token belongs to its page alone."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from herald.kit.clock import utcnow
from herald.preferences.access import (
    LIFETIME,
    MAX_TOKEN,
    CsrfFailed,
    InvalidPreferencesLink,
    PageKeys,
    PreferencesLinkExpired,
)

KEYS = PageKeys("k" * 40)
APP = uuid.uuid4()


def test_a_token_opens_to_its_app_and_user_and_shows_neither() -> None:
    now = utcnow()
    user = "ada@example.com"
    token = KEYS.seal(APP, user, now)
    claim = KEYS.open(token, now)
    assert (claim.app_id, claim.user_id) == (APP, user)
    assert now + LIFETIME - timedelta(seconds=1) <= claim.expires_at <= now + LIFETIME
    assert "ada" not in token and APP.hex not in token
    assert KEYS.seal(APP, user, now) != token  # a fresh nonce each time


def test_the_longest_user_id_fits_the_bound() -> None:
    token = KEYS.seal(APP, "\U0001f600" * 200, utcnow())
    assert len(token) <= MAX_TOKEN and KEYS.open(token, utcnow()).user_id == "\U0001f600" * 200


def test_altered_forged_or_foreign_tokens_are_refused() -> None:
    now = utcnow()
    token = KEYS.seal(APP, "42", now)
    altered = [token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :] for i in (0, 5, 20, len(token) - 1)]
    foreign = PageKeys("another deployment's secret key").seal(APP, "42", now)
    for bad in [*altered, token[:-2], token + "A", foreign, "", "!!!!", "A" * (MAX_TOKEN + 4)]:
        with pytest.raises(InvalidPreferencesLink) as caught:
            KEYS.open(bad, now)
        assert not isinstance(caught.value, PreferencesLinkExpired), bad


def test_a_token_past_its_hour_is_expired() -> None:
    then = utcnow() - LIFETIME - timedelta(seconds=5)
    with pytest.raises(PreferencesLinkExpired):
        KEYS.open(KEYS.seal(APP, "42", then), utcnow())


def test_the_csrf_token_is_the_pages_own() -> None:
    now = utcnow()
    page, other = KEYS.seal(APP, "42", now), KEYS.seal(APP, "43", now)
    KEYS.check_csrf(page, KEYS.csrf(page))
    for given in (None, "", KEYS.csrf(other), KEYS.csrf(page)[:-1], PageKeys("x" * 40).csrf(page), "é"):
        with pytest.raises(CsrfFailed):
            KEYS.check_csrf(page, given)
