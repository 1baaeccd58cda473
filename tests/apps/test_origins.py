"""Origins as browsers send them: what production refuses that development lets in."""

from __future__ import annotations

import pytest

from herald.apps.origins import normalize


@pytest.mark.parametrize(
    "origin", ["http://localhost:3000", "http://127.0.0.1", "http://[::1]:8080", "http://app.localhost"]
)
def test_plain_http_is_for_the_loopback_host_in_development_only(origin: str) -> None:
    assert normalize(origin, local_http=True) == origin
    with pytest.raises(ValueError, match="https"):
        normalize(origin, local_http=False)


def test_http_elsewhere_is_refused_even_in_development() -> None:
    with pytest.raises(ValueError, match="localhost"):
        normalize("http://192.168.1.10:3000", local_http=True)


def test_the_default_port_is_dropped_as_browsers_drop_it() -> None:
    assert normalize("https://shop.example:443", local_http=False) == "https://shop.example"
    assert normalize("http://localhost:80", local_http=True) == "http://localhost"
    assert normalize("https://shop.example:80", local_http=False) == "https://shop.example:80"
