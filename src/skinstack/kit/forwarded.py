"""The client's address behind proxies: which X-Forwarded-For / Forwarded hops to believe.

A proxy appends the address it received a request from to the forwarded chain, so the chain is
written left to right by ever closer hops, and only the hops a trusted proxy appended can be
believed. The client is therefore found from the right: start at the socket's peer; while the
address at hand is a trusted proxy, step to the hop it reported; the first address that is not
a trusted proxy is the client (every address trusted: the left-most). Whatever is left of the
client was written by the client itself and is never read.

- An untrusted peer's headers change nothing: the peer is the client.
- A hop that is not an IP address (malformed, empty, `unknown`, an obfuscated `_name`, a
  `Forwarded` element without `for=`) ends the walk: nothing to its left can be believed, so the
  client is the last address known, the trusted proxy that reported it.
- Both headers: a proxy writes one of them, and the client may have written the other, so they
  are believed only when both walks reach the same client; otherwise the peer is the client
  (never an address only the client vouches for).
- Forms: `X-Forwarded-For: 203.0.113.9, 2001:db8::1, 198.51.100.4:8080, [2001:db8::2]:443`;
  `Forwarded: for=203.0.113.9;proto=https, for="[2001:db8::1]:4711"` (parameter names in any
  case). IPv4-mapped IPv6 addresses count as their IPv4 address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from socket import AF_INET, AF_INET6, inet_pton

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Headers = Iterable[tuple[bytes, bytes]]
_PORT = re.compile(r":([0-9]{1,5})")
# Chains up to this length are cached (a few hops); a longer one is worked out each time, so a
# client behind the balancer cannot fill memory with long forged prefixes.
_CACHED_LENGTH = 256


class TrustedProxies:
    """The proxies (TRUSTED_PROXIES: networks) whose forwarded headers are believed."""

    def __init__(self, networks: Iterable[str | Network] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(
            network if isinstance(network, IPv4Network | IPv6Network) else ip_network(network)
            for network in networks)
        # Peers and chains come back (the balancers, returning shoppers): each is worked out once.
        self.trusted_peer = lru_cache(maxsize=4096)(self._trusted_peer)
        self.resolve = lru_cache(maxsize=65536)(self._resolve)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def _trusted_peer(self, peer: str) -> Address | None:
        """The socket peer's address when it is a trusted proxy, else None."""
        address = node(peer)
        return address if address is not None and address in self else None

    def _resolve(self, peer: str, forwarded_for: bytes | None, forwarded: bytes | None) -> str:
        """The client behind the trusted proxy `peer`, from its headers' values (each header's
        lines joined by commas; None when absent)."""
        proxy = self.trusted_peer(peer)
        if proxy is None:
            return peer
        client = None
        if forwarded_for is not None:
            client = self._walk(proxy, [node(hop) for hop in
                                        forwarded_for.decode("latin-1").split(",")])
        if forwarded is not None:
            named = self._walk(proxy, [forwarded_node(element) for element in
                                       forwarded.decode("latin-1").split(",")])
            client = named if client is None or client == named else proxy
        return str(client)

    def _walk(self, peer: Address, hops: Sequence[Address | None]) -> Address:
        client = peer
        for hop in reversed(hops):
            if client not in self or hop is None:
                break
            client = hop
        return client


def client_address(peer: str, headers: Headers, trusted: TrustedProxies) -> str:
    """The client's address: `peer` (the socket's), or the client a trusted proxy forwarded.

    `headers` are the request's (lower-case names, as in an ASGI scope). Returns `peer`
    itself when it is not a trusted proxy or sent no forwarded header.
    """
    if not trusted or trusted.trusted_peer(peer) is None:
        return peer
    forwarded_for = forwarded = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
        elif name == b"forwarded":
            forwarded = value if forwarded is None else forwarded + b"," + value
    if forwarded_for is None and forwarded is None:
        return peer
    if len(forwarded_for or b"") + len(forwarded or b"") > _CACHED_LENGTH:
        return trusted._resolve(peer, forwarded_for, forwarded)  # too long to be kept
    return trusted.resolve(peer, forwarded_for, forwarded)


def node(text: str) -> Address | None:
    """The IP address in a hop (`addr`, `addr:port`, `[v6]`, `[v6]:port`), or None."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not _port(text[end + 1:])):
            return None
        text = text[1:end]
        if ":" not in text:
            return None  # brackets hold an IPv6 address only
    elif text.count(":") == 1:  # IPv4 with a port
        text, port = text.split(":")
        if not _port(":" + port):
            return None
    # inet_pton, not ipaddress.ip_address: the same strict forms (no leading zeros, no zone),
    # in a quarter of the time, which counts on the redirect's hot path.
    try:
        return IPv4Address(inet_pton(AF_INET, text))
    except (OSError, ValueError):  # ValueError: a NUL in the text
        pass
    try:
        address = IPv6Address(inet_pton(AF_INET6, text))
    except (OSError, ValueError):
        return None
    return address.ipv4_mapped or address


def _port(text: str) -> bool:
    """Whether `text` is `:port` with a port number."""
    match = _PORT.fullmatch(text)
    return match is not None and int(match[1]) <= 65535


def forwarded_node(element: str) -> Address | None:
    """The address in one `Forwarded` element's `for=` parameter, or None."""
    found = None
    for pair in element.split(";"):
        if not pair.strip():
            continue
        name, equals, value = pair.partition("=")
        if not equals:
            return None
        if name.strip().lower() == "for":
            if found is not None:
                return None  # two `for=` in one element: which one?
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found = value
    return node(found) if found is not None else None
