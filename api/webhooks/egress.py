"""Where webhooks may go: public addresses only, unless an operator allows a network.

A tenant admin chooses webhook URLs, and the API process sits inside the operator's network:
without a policy, a URL such as ``http://169.254.169.254/`` or ``http://10.0.0.1/`` makes the
dispatcher a proxy into it. So a URL's host is resolved (numeric spellings included: the
resolver reads ``2852039166``, ``0x7f000001`` and ``127.1`` as it would when connecting) and
every address it resolves to must be public — not loopback, private, link-local, shared,
multicast, reserved or unspecified, IPv4 embedded in IPv6 judged as IPv4 — or inside one of
``api.webhook_allowed_networks``. This is checked when a subscription is created or updated,
and again at each new connection of a delivery (``transport``), which then goes to the address
that was vetted, so a DNS answer that changes between check and connect cannot steer a
delivery inside.

>>> policy = EgressPolicy([])
>>> policy.refusal(ipaddress.ip_address("93.184.215.14")) is None
True
>>> policy.refusal(ipaddress.ip_address("169.254.169.254"))
'169.254.169.254 is not public: link-local'
>>> policy.refusal(ipaddress.ip_address("::ffff:10.0.0.1"))
'10.0.0.1 is not public: private'
>>> EgressPolicy(["127.0.0.0/8"]).refusal(ipaddress.ip_address("127.0.0.2")) is None
True
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]  # host, port → the addresses a connection would try


class EgressRefusedError(ValueError):
    """A webhook URL that may not be called (a permanent failure of that subscription)."""


def _kind(address: IPAddress) -> str | None:
    """What makes an address internal, or None for a public one."""
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if address.is_global else "non-public"  # shared (100.64/10), documentation, …


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo), judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is not None:
            return inner
    return address


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives ``host`` (as a connection would)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class EgressPolicy:
    """Public addresses, plus the operator's allowed networks."""

    def __init__(self, allowed: Iterable[str | IPNetwork] = (), resolver: Resolver = system_resolver) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed)
        self.resolver = resolver

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to ``address`` is refused, or None when it may go there."""
        if any(address in network for network in self.allowed):
            return None
        inner = _embedded(address)
        if inner != address and any(inner in network for network in self.allowed):
            return None
        kind = _kind(inner)
        return None if kind is None else f"{inner} is not public: {kind}"

    def vetted_address(self, host: str, port: int) -> IPAddress:
        """The address to connect to for ``host``, once every address it resolves to is allowed."""
        try:
            addresses = _parse(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise EgressRefusedError(f"host {host!r} does not resolve: {exc}") from exc
        if not addresses:
            raise EgressRefusedError(f"host {host!r} does not resolve")
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise EgressRefusedError(f"{host}: webhooks may not reach it ({reason})")
        return addresses[0]

    def vet(self, url: str) -> None:
        """Raise ``EgressRefusedError`` unless ``url`` is http(s) to a host webhooks may reach."""
        target = httpx.URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise EgressRefusedError("webhook URLs are http(s) with a host")
        self.vetted_address(target.host, target.port or (443 if target.scheme == "https" else 80))


def networks_of(url: str) -> list[IPNetwork]:
    """The addresses ``url``'s host resolves to now, each as a network of one (for an allow-list)."""
    host = httpx.URL(url).host
    return [ipaddress.ip_network(address) for address in _parse(system_resolver(host, 0) if host else [])]


def _parse(found: Sequence[str]) -> list[IPAddress]:
    addresses: list[IPAddress] = []
    for text in found:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))  # a scope id aside
        except ValueError:
            continue
    return addresses
