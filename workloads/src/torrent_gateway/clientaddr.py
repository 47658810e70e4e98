"""Who the client is: the socket peer, or the forwarded address when the peer is a trusted proxy.

Only a peer inside a configured trusted network (an Ingress controller, a load balancer) may
name the real client, and only through the one header that proxy sets (``gateway.forwarded_header``:
``X-Forwarded-For`` or ``Forwarded``); anyone else's headers, and the other header, are ignored,
so a client cannot spoof its way around a rate limit or a tracker's address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=64)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _parse_ip(text: str) -> IPAddress | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address in net for net in networks)


ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
DEFAULT_FORWARDED_HEADER: ForwardedHeader = "x-forwarded-for"


def forwarded_chain(
    headers: Iterable[tuple[bytes, bytes]], header: ForwardedHeader = DEFAULT_FORWARDED_HEADER
) -> list[str]:
    """Addresses named by the one forwarding header the proxy sets (every occurrence, in order),
    leftmost first. The other header is never read: the proxy passes a client's copy of it
    through untouched, so it is the client's word, not the proxy's."""
    chain: list[str] = []
    wanted = header.encode()
    for name, value in headers:
        if name.lower() != wanted:
            continue
        text = value.decode("latin-1")
        if header == "forwarded":
            for element in text.split(","):
                for pair in element.split(";"):
                    key, _, val = pair.strip().partition("=")
                    if key.strip().lower() == "for" and val.strip():
                        chain.append(val.strip())
        else:
            chain.extend(part.strip() for part in text.split(",") if part.strip())
    return chain


def client_address(
    peer: str | None,
    headers: Iterable[tuple[bytes, bytes]],
    trusted_proxies: Sequence[str] | tuple[str, ...],
    header: ForwardedHeader = DEFAULT_FORWARDED_HEADER,
) -> str:
    """The client's IP as text: the right-most hop of ``header`` that is not a trusted proxy,
    walking right to left from the socket peer through trusted proxies only."""
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None:
        return peer or "0.0.0.0"
    networks = parse_networks(tuple(trusted_proxies))
    if not networks or not _trusted(peer_ip, networks):
        return str(peer_ip)
    current = peer_ip
    for hop in reversed(forwarded_chain(headers, header)):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            break
        current = hop_ip
        if not _trusted(hop_ip, networks):
            break
    return str(current)


def scope_client_address(
    scope: Mapping[str, Any],
    trusted_proxies: Sequence[str],
    header: ForwardedHeader = DEFAULT_FORWARDED_HEADER,
) -> str:
    """client_address() for an ASGI scope."""
    client = scope.get("client")
    return client_address(client[0] if client else None, scope.get("headers", []), trusted_proxies, header)
