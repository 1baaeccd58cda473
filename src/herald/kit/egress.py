"""Where an app can make Herald connect: the rules against server-side request forgery.

An app chooses some of the hosts Herald's workers call: its web push subscriptions'
endpoints, and its own provider accounts' hosts (a `base_url`, FCM's `token_uri`, an SMTP
host). Unchecked, an app could make Herald POST to the cloud metadata service or an admin
API on Herald's own network. The operator's own providers (HERALD_PROVIDERS,
HERALD_SMTP__*) are the operator's say-so and are not checked.

The rules hold twice: when the app saves a destination (a clear 422), and when a connection
is opened, on the addresses the name resolves to at that moment, because a public name can
be re-pointed at 127.0.0.1 after it was checked (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from herald.config import Mode, Settings

log = logging.getLogger(__name__)

EGRESS_DENIED = "egress_denied"

Address = IPv4Address | IPv6Address
# (family, proto, sockaddr) as getaddrinfo gives them.
Target = tuple[socket.AddressFamily, int, tuple[Any, ...]]


def is_public(address: Address) -> bool:
    """Reachable on the public internet, by the stdlib's reading of the IANA registries.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo) is judged by that
    one too: ::ffff:127.0.0.1 reaches loopback. Multicast and reserved ranges are excluded
    explicitly because Python 3.11 counts some of them as global.
    """
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        embedded = [address.sixtofour, *(address.teredo or ())]
        if any(v4 is not None and not is_public(v4) for v4 in embedded):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def literal(host: str) -> Address | None:
    """The address a host names by itself, if it is an IP literal.

    Legacy IPv4 spellings (127.1, 0x7f000001, 2130706433) count: the C resolver turns them
    into addresses, so they must be judged as the addresses they become.
    """
    try:
        return ip_address(host)
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def normalize(host: str) -> str:
    return host.strip().lower().rstrip(".")


def is_loopback_name(host: str) -> bool:
    """RFC 6761: `localhost` and every name under it resolve to loopback."""
    return host == "localhost" or host.endswith(".localhost")


class HostList:
    """Hostnames an operator allows; `*.example.com` covers every name under example.com."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        names = {normalize(e) for e in entries}
        self.exact = frozenset(n for n in names if not n.startswith("*."))
        self._suffixes = tuple(sorted(n[1:] for n in names if n.startswith("*.")))

    def __bool__(self) -> bool:
        return bool(self.exact or self._suffixes)

    def names(self, host: str) -> bool:
        """Named exactly: the operator trusts this host wherever it resolves."""
        return host in self.exact

    def matches(self, host: str) -> bool:
        return host in self.exact or host.endswith(self._suffixes)


class EgressRefused(OSError):
    """A connection the egress rules do not allow; nothing was sent."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A host an app's account makes Herald call, and the config field that names it."""

    field: str
    host: str
    scheme: str | None = None  # None: not a URL (an SMTP host)


class EgressPolicy:
    """The rules from settings: the mode, and the operator's allow-lists.

    Development keeps one exemption, so the sandbox on 127.0.0.1 stays reachable: loopback
    destinations (over plain http too) are allowed, and said so in the log once. Production
    never gets it.
    """

    def __init__(
        self, *, production: bool = False, provider_hosts: Iterable[str] = (), push_hosts: Iterable[str] = ()
    ) -> None:
        self.production = production
        self.provider_hosts = HostList(provider_hosts)
        self.push_hosts = HostList(push_hosts)
        self._exemption_noted = False
        # Web push endpoints must be public whatever the allow-list says: it picks push services.
        self.push = Guard(self, trusted=HostList(), allowed=self.push_hosts, https_only=True)
        # An app's provider account may reach a host the operator named exactly, wherever it
        # resolves (an internal relay on purpose); anything else only at public addresses.
        self.accounts = Guard(self, trusted=self.provider_hosts, allowed=None, https_only=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        e = settings.egress
        return cls(
            production=settings.mode is Mode.PRODUCTION, provider_hosts=e.provider_hosts, push_hosts=e.push_hosts
        )

    def exempt(self, host: str, address: Address | None) -> bool:
        """The development exemption: loopback, logged the first time it is used."""
        if self.production:
            return False
        if not (is_loopback_name(host) if address is None else address.is_loopback):
            return False
        if not self._exemption_noted:
            self._exemption_noted = True
            log.warning(
                "egress: development mode lets apps make Herald connect to loopback (%s), for the sandbox; "
                "production mode refuses it",
                host,
            )
        return True

    def account_refusal(self, dest: Destination, own_hosts: frozenset[str]) -> str | None:
        """Why an app's account may not name this host, or None. `own_hosts`: the provider's."""
        if dest.scheme is not None and dest.scheme not in ("http", "https"):
            return f"{dest.field} must be an http or https URL"
        host = normalize(dest.host)
        if not host:
            return f"{dest.field} names no host"
        if self.provider_hosts.names(host):
            return None
        address = literal(host)
        if address is not None and not is_public(address) and not self.exempt(host, address):
            return f"{host} is not a public address"
        if self.production and host not in own_hosts and not self.provider_hosts.matches(host):
            return f"{host} is not this provider's host nor on the operator's provider allow-list"
        return None


class Guard:
    """The connect-time rules for one kind of destination: which URLs, which addresses."""

    def __init__(self, policy: EgressPolicy, *, trusted: HostList, allowed: HostList | None, https_only: bool) -> None:
        self._policy = policy
        self._trusted = trusted
        self._allowed = allowed
        self._https_only = https_only

    def refusal(self, url: str) -> str | None:
        """Why Herald must not call this URL, or None; judged on the URL alone, without DNS."""
        try:
            parts = urlsplit(url)
            host = normalize(parts.hostname or "")
        except ValueError:
            return "not a valid URL"
        if not host:
            return "the URL names no host"
        if parts.scheme not in ("http", "https"):
            return "only https is allowed" if self._https_only else "only http and https are allowed"
        if self._trusted.names(host):
            return None
        address = literal(host)
        exempt = self._policy.exempt(host, address)
        if parts.scheme == "http" and self._https_only and not exempt:
            return "only https is allowed"
        if address is not None and not exempt and not is_public(address):
            return f"{host} is not a public address"
        if self._allowed and not exempt and not self._allowed.matches(host):
            return f"{host} is not on the operator's push service allow-list"
        if address is None and is_loopback_name(host) and not exempt:
            return f"{host} is a loopback name"
        return None

    def admits(self, host: str, address: Address) -> bool:
        return self._trusted.names(host) or is_public(address) or self._policy.exempt(host, address)

    async def targets(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[Target]:
        """The addresses `host` resolves to now that may be connected to; refused if none."""
        host = normalize(host)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        kept: list[Target] = [
            (fam, proto, addr) for fam, _, proto, _, addr in infos if self.admits(host, ip_address(addr[0]))
        ]
        if not kept:
            found = ", ".join(sorted({str(addr[0]) for *_, addr in infos}))
            raise EgressRefused(f"{host} resolves to {found}, none of them a public address")
        return kept

    async def connect(self, host: str, port: int) -> socket.socket:
        """A connected socket to an allowed address of `host` (for transports other than aiohttp)."""
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for family, proto, addr in await self.targets(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:  # cancelled (a connect timeout): the socket must not leak
                sock.close()
                raise
            return sock
        assert error is not None
        raise error

    def resolver(self) -> GuardedResolver:
        return GuardedResolver(self)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, dropping the answers the guard refuses.

    aiohttp connects only to what its resolver returns, so a name re-pointed at a private
    address after any earlier check is still refused. It skips the resolver for IP-literal
    hosts: `Guard.refusal` judges those before each request.
    """

    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            ResolveResult(hostname=host, host=str(addr[0]), port=port, family=fam, proto=proto, flags=flags)
            for fam, proto, addr in await self._guard.targets(host, port, family)
        ]

    async def close(self) -> None:
        return None
