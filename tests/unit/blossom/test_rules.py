"""The pure upload rules shared by PUT /upload, HEAD /upload and PUT /mirror."""

from __future__ import annotations

import pytest
from torrent_gateway.blossom import rules
from torrent_gateway.blossom.errors import BlossomError

SHA = "ab" * 32


def status_of(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(BlossomError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.reason
    return info.value.status


def test_sha256_header() -> None:
    assert rules.parse_sha256_header(None) is None
    assert rules.parse_sha256_header(" " + SHA.upper() + " ") == SHA
    assert status_of(rules.parse_sha256_header, "abc") == 400


def test_length_header() -> None:
    assert rules.parse_length(None, "X-Content-Length") is None
    assert rules.parse_length("42", "X-Content-Length") == 42
    for bad in ("-1", "1e3", "", "9" * 20):
        assert status_of(rules.parse_length, bad, "X-Content-Length") == 400


@pytest.mark.parametrize(
    ("mime", "allowed", "ok"),
    [
        ("image/png", [], True),
        ("image/png", ["image/*"], True),
        ("IMAGE/PNG; charset=x", ["image/*"], True),
        ("video/mp4", ["image/*"], False),
        ("application/pdf", ["application/pdf"], True),
        ("application/pdfx", ["application/pdf"], False),
        ("text/plain", ["*/*"], True),
    ],
)
def test_type_allowed(mime: str, allowed: list[str], ok: bool) -> None:
    assert rules.type_allowed(mime, allowed) is ok


def test_check_type_leaves_generic_declarations_to_the_content() -> None:
    rules.check_type("application/octet-stream", ["image/*"], declared=True)
    rules.check_type(None, ["image/*"], declared=True)
    assert status_of(rules.check_type, "application/octet-stream", ["image/*"], declared=False) == 415
    assert status_of(rules.check_type, "application/pdf", ["image/*"], declared=True) == 415


def test_size_quota_pubkey_and_hash() -> None:
    rules.check_size(10, 10)
    assert status_of(rules.check_size, 11, 10) == 413
    assert status_of(rules.check_size, 0, 10) == 400
    rules.check_quota(90, 10, 100)
    rules.check_quota(10**12, 1, 0)
    assert status_of(rules.check_quota, 91, 10, 100) == 413
    rules.check_pubkey(None, [])
    rules.check_pubkey("a", ["a"])
    assert status_of(rules.check_pubkey, "b", ["a"]) == 403
    rules.check_announced_hash(None, SHA)
    rules.check_announced_hash(SHA, SHA)
    assert status_of(rules.check_announced_hash, "cd" * 32, SHA) == 409
