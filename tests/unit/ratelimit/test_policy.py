"""Which request is governed by which limit, and under which key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from torrent_gateway.config import ConfigError, Settings
from torrent_gateway.ratelimit.policy import (
    TRACKER_DEFAULT_BURST,
    Policy,
    Style,
    client_key,
    normalise_fail_open,
)

SHA = "ab" * 32


@pytest.fixture
def policy(make_settings: Callable[..., Settings]) -> Policy:
    return Policy.from_settings(make_settings())


@pytest.mark.parametrize(
    ("method", "path", "limit", "style"),
    [
        ("POST", "/api/upload", "upload", Style.JSON),
        ("PUT", "/api/upload", "upload", Style.JSON),
        ("PUT", "/upload", "upload", Style.BLOSSOM),
        ("PUT", "/mirror", "upload", Style.BLOSSOM),
        ("GET", f"/api/download/{SHA}", "download", Style.JSON),
        ("HEAD", f"/api/download/{SHA}", "download", Style.JSON),
        ("GET", f"/api/webseed/{SHA}/name.iso", "download", Style.JSON),
        ("GET", f"/{SHA}", "download", Style.BLOSSOM),
        ("HEAD", f"/{SHA}.mp4", "download", Style.BLOSSOM),
        ("GET", f"/api/stream/{SHA}/master.m3u8", "stream", Style.JSON),
        ("GET", f"/api/stream/{SHA.upper()}", "stream", Style.JSON),
        ("POST", "/api/auth/login", "auth", Style.JSON),
        ("POST", "/api/auth/nostrconnect", "auth", Style.JSON),
        ("GET", "/api/auth/challenge", "challenge", Style.JSON),
        ("PUT", "/report", "report", Style.BLOSSOM),
        ("GET", "/announce", "tracker", Style.TRACKER),
        ("GET", "/scrape", "tracker", Style.TRACKER),
    ],
)
def test_governed_routes(policy: Policy, method: str, path: str, limit: str, style: Style) -> None:
    match = policy.match(method, path)
    assert match is not None
    assert match.spec.name == limit and match.style is style


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/api/files"),
        ("GET", "/api/health"),
        ("GET", "/metrics"),
        ("OPTIONS", f"/{SHA}"),
        ("DELETE", f"/{SHA}"),
        ("GET", "/upload"),
        ("HEAD", "/upload"),  # BUD-06 pre-flight check is cheap and carries no body
        ("GET", f"/{SHA[:-1]}"),
        ("GET", f"/{SHA}/more"),
        ("GET", "/api/auth/login"),
        ("POST", "/api/auth/challenge"),
        ("GET", "/report"),
        ("POST", "/announce"),
        ("GET", "/api/stream/not-a-hash/x.ts"),
    ],
)
def test_ungoverned_routes(policy: Policy, method: str, path: str) -> None:
    assert policy.match(method, path) is None


def test_keys(policy: Policy) -> None:
    upload = policy.match("POST", "/api/upload")
    download = policy.match("GET", f"/{SHA}")
    stream = policy.match("GET", f"/api/stream/{SHA.upper()}/seg1.ts")
    assert upload is not None and download is not None and stream is not None
    assert policy.bucket_key(upload, "203.0.113.9") == "upload:203.0.113.9"
    assert (
        policy.bucket_key(download, "203.0.113.9")
        == policy.bucket_key(download, "198.51.100.1")
        == "download"
    )
    assert policy.bucket_key(stream, "203.0.113.9") == f"stream:{SHA}"


def test_upload_size_cap_only_where_a_body_is_uploaded(policy: Policy) -> None:
    upload = policy.match("PUT", "/upload")
    mirror = policy.match("PUT", "/mirror")
    assert upload is not None and upload.check_size and upload.spec.max_body == 10 * 1024**3
    assert mirror is not None and not mirror.check_size


def test_ipv6_clients_are_keyed_by_their_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"


def test_limits_come_from_settings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        rate_limiting={
            "upload": {"requests_per_second": 2, "burst_size": 3, "max_file_size": 100},
            "download": {"requests_per_second": 7, "burst_size": 9},
            "stream": {"requests_per_second": 4, "burst_size": 6, "max_concurrent": 2},
            "auth": {"login_attempts_per_minute": 12},
            "fail_open": ["upload"],
        },
    )
    policy = Policy.from_settings(settings)
    assert (policy.upload.rate, policy.upload.burst, policy.upload.max_body) == (2, 3, 100)
    assert (policy.download.rate, policy.download.burst) == (7, 9)
    assert (policy.stream.rate, policy.stream.burst, policy.stream.max_concurrent) == (4, 6, 2)
    assert policy.auth.rate == pytest.approx(12 / 60) and policy.auth.burst == 12
    assert policy.upload.fail_open and not policy.download.fail_open and not policy.auth.fail_open
    assert policy.tracker.burst == TRACKER_DEFAULT_BURST


def test_default_failure_policy(make_settings: Callable[..., Settings]) -> None:
    policy = Policy.from_settings(make_settings())
    assert policy.download.fail_open and policy.stream.fail_open
    assert not policy.upload.fail_open and not policy.auth.fail_open


def test_fail_open_names_validated() -> None:
    assert normalise_fail_open(["Login", "download"]) == {"auth", "download"}
    with pytest.raises(ConfigError, match="rate_limiting.fail_open"):
        normalise_fail_open(["downloads"])
