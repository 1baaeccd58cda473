"""The web origins an app lets its end users call Herald from (CORS), as browsers send them.

A browser's `Origin` header is `scheme://host[:port]`, lowercase, without the scheme's
default port and without a path: an origin is stored in that form, so that checking a
request is a set lookup. Anything else (a path, a wildcard, user info) is refused when it is
saved rather than never matching later.
"""

from __future__ import annotations

import ipaddress
import re

from herald.kit.errors import ValidationFailed

MAX_ORIGINS = 50
MAX_ORIGIN = 300  # a 253-character hostname, its scheme and a port
_ORIGIN = re.compile(r"(?P<scheme>[a-z]+)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}


def normalize(origin: str, *, local_http: bool) -> str:
    """The origin as a browser sends it; ValueError saying what is wrong.

    Only https, but for the loopback host in development (`local_http`): a page served over
    plain http anywhere else can be rewritten on its way, and its tokens with it.
    """
    m = _ORIGIN.fullmatch(origin.strip().lower())
    if m is None:
        raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], without a path")
    scheme, host, port = m["scheme"], m["host"].rstrip("."), m["port"]
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{origin!r}: the scheme is https (or http for localhost in development)")
    _check_host(origin, host)
    loopback = host in _LOOPBACK or host.endswith(".localhost")
    if scheme == "http" and not (local_http and loopback):
        where = "in development, for localhost only" if local_http else "only in development, for localhost"
        raise ValueError(f"{origin!r}: an origin is https; http is allowed {where}")
    if port is not None and not 0 < int(port) <= 65535:
        raise ValueError(f"{origin!r}: the port is 1 to 65535")
    if port is None or int(port) == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"


def _check_host(origin: str, host: str) -> None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{origin!r}: the host is not an IPv6 address") from None
        return
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{origin!r}: the host is not a hostname (internationalised names in their xn-- form)")


def normalize_all(origins: list[str], *, local_http: bool, field: str = "allowed_origins") -> list[str]:
    """Each origin normalized, duplicates dropped; ValidationFailed naming the first bad one."""
    if len(origins) > MAX_ORIGINS:
        raise ValidationFailed(f"at most {MAX_ORIGINS} origins", field=field)
    out: dict[str, None] = {}
    for i, origin in enumerate(origins):
        try:
            out[normalize(origin, local_http=local_http)] = None
        except ValueError as exc:
            raise ValidationFailed(str(exc), field=f"{field}.{i}") from None
    return list(out)
