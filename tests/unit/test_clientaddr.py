"""The client address behind trusted proxies: only the configured forwarding header, walked right
to left through trusted hops (the fast layer; tests/security drives the server)."""

from __future__ import annotations

import pytest
from torrent_gateway.clientaddr import client_address, forwarded_chain

PROXY = ["10.0.0.0/8"]


def h(**headers: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]


def test_untrusted_peer_headers_are_ignored() -> None:
    assert client_address("198.51.100.1", h(x_forwarded_for="203.0.113.5"), PROXY) == "198.51.100.1"
    assert client_address("198.51.100.1", h(x_forwarded_for="203.0.113.5"), []) == "198.51.100.1"


def test_rightmost_untrusted_hop_of_x_forwarded_for() -> None:
    # The client claims 1.2.3.4; the proxy appended the address it saw.
    headers = h(x_forwarded_for="1.2.3.4, 203.0.113.5, 10.0.0.7")
    assert client_address("10.0.0.2", headers, PROXY) == "203.0.113.5"


def test_the_other_header_is_never_read() -> None:
    spoofed = h(x_forwarded_for="203.0.113.5", forwarded="for=192.0.2.99")
    assert client_address("10.0.0.2", spoofed, PROXY) == "203.0.113.5"
    assert client_address("10.0.0.2", spoofed, PROXY, "forwarded") == "192.0.2.99"
    # Configured for Forwarded, a request without it is the proxy's own.
    assert client_address("10.0.0.2", h(x_forwarded_for="203.0.113.5"), PROXY, "forwarded") == "10.0.0.2"


@pytest.mark.parametrize(
    ("value", "chain"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
        (
            'for="[2001:db8:cafe::17]:4711", for=198.51.100.17',
            ['"[2001:db8:cafe::17]:4711"', "198.51.100.17"],
        ),
        ("proto=https", []),
    ],
)
def test_forwarded_chain_parses_rfc7239(value: str, chain: list[str]) -> None:
    assert forwarded_chain(h(forwarded=value), "forwarded") == chain


def test_every_occurrence_of_the_header_counts_in_order() -> None:
    headers = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.5")]
    assert forwarded_chain(headers) == ["1.2.3.4", "203.0.113.5"]
    assert client_address("10.0.0.2", headers, PROXY) == "203.0.113.5"


def test_ipv6_bracketed_forwarded_hop() -> None:
    headers = h(forwarded='for="[2001:db8::1]:4711"')
    assert client_address("10.0.0.2", headers, PROXY, "forwarded") == "2001:db8::1"


def test_garbage_hop_stops_the_walk_at_the_last_good_address() -> None:
    assert client_address("10.0.0.2", h(x_forwarded_for="nonsense, 10.0.0.9"), PROXY) == "10.0.0.9"
