"""The SSRF guard of BUD-04 mirroring: which targets may be fetched at all."""

from __future__ import annotations

import ipaddress

import pytest
from torrent_gateway.blossom.errors import BlossomError
from torrent_gateway.blossom.mirror import check_url, is_public_address, resolve_target


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("127.9.9.9", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:0001::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.org/x",
        "file:///etc/passwd",
        "example.org/x",
        "http://",
        "http://user:pw@example.org/x",
        "http://h:99999/",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(BlossomError) as info:
        check_url(url)
    assert info.value.status == 400


def test_check_url_ports() -> None:
    assert check_url("https://example.org/a") == ("https", "example.org", 443)
    assert check_url("http://example.org:8080/a") == ("http", "example.org", 8080)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "localhost"])
async def test_private_targets_are_refused(host: str) -> None:
    with pytest.raises(BlossomError) as info:
        await resolve_target(host, 80, allow_private=False)
    assert info.value.status == 403 and "refusing" in info.value.reason


async def test_private_targets_allowed_when_configured() -> None:
    assert await resolve_target("127.0.0.1", 80, allow_private=True) == "127.0.0.1"
    assert await resolve_target("8.8.8.8", 80, allow_private=False) == "8.8.8.8"
