"""Outbound connections to addresses a client named (Blossom mirror origins, NIP-46 bunker relays):
resolve once, refuse anything that is not public unicast, and hand back the checked address so
the caller connects to exactly that one — a second lookup could answer differently (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DNS_TIMEOUT = 10.0


class Unresolvable(Exception):
    """The name has no usable address (or the lookup failed or timed out)."""


class NotPublic(Exception):
    """The name resolves to a private, loopback, link-local or reserved address."""

    def __init__(self, host: str, address: IPAddress) -> None:
        super().__init__(f"{host} resolves to {address}, a private, loopback or reserved address")
        self.host = host
        self.address = address


def is_public_address(address: IPAddress) -> bool:
    """True when the address is routable unicast on the public internet (never inward)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
        if address.is_site_local:
            return False
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return address.is_global


async def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to: the first resolved one, all of which must be public unless
    ``allow_private``. A name that also points inward is refused outright."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DNS_TIMEOUT)
        except (OSError, TimeoutError, UnicodeError):
            raise Unresolvable(f"{host} could not be resolved") from None
        addresses = []
        for info in infos:
            with contextlib.suppress(ValueError):
                addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        if not addresses:
            raise Unresolvable(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise NotPublic(host, address)
    return str(addresses[0])
