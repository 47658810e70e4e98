"""NIP-98 verification: URL, method, payload and freshness, with an injected clock."""

from __future__ import annotations

import hashlib
from typing import Any

import nostr_sdk
import pytest
from torrent_gateway.nostr.events import InvalidEvent, sign_event
from torrent_gateway.nostr.nip98 import verify_http_auth

KEYS = nostr_sdk.Keys.generate()
NOW = 1_700_000_000
URL = "https://gw.example/api/upload?name=a.txt"
BODY = b"some body"


def http_event(tags: list[list[str]], created_at: int = NOW, kind: int = 27235) -> dict[str, Any]:
    return sign_event(KEYS, kind=kind, content="", tags=tags, created_at=created_at)


def good_tags(**overrides: str) -> list[list[str]]:
    values = {"u": URL, "method": "PUT", "payload": hashlib.sha256(BODY).hexdigest(), **overrides}
    return [[k, v] for k, v in values.items() if v]


def check(event: dict[str, Any], **kwargs: Any) -> str:
    options: dict[str, Any] = {
        "urls": URL,
        "method": "PUT",
        "body_sha256": hashlib.sha256(BODY).hexdigest(),
        "now": NOW,
    }
    options.update(kwargs)
    return verify_http_auth(event, **options)


def test_valid_event_returns_the_pubkey() -> None:
    assert check(http_event(good_tags())) == KEYS.public_key().to_hex()


def test_payload_is_optional_and_may_be_checked_later() -> None:
    assert check(http_event(good_tags(payload=""))) == KEYS.public_key().to_hex()
    # Body not read by the caller: the payload tag is not compared here.
    assert check(http_event(good_tags()), body_sha256=None) == KEYS.public_key().to_hex()


def test_url_forms_that_are_the_same_request() -> None:
    event = http_event(good_tags(u="HTTPS://GW.EXAMPLE:443/api/upload?name=a.txt"))
    assert check(event)
    assert check(
        http_event(good_tags(u="http://internal:9876/api/upload?name=a.txt")),
        urls=["http://x", "http://internal:9876/api/upload?name=a.txt"],
    )
    assert check(http_event(good_tags(method="put")))


@pytest.mark.parametrize(
    ("event_args", "check_args", "reason"),
    [
        (
            {"tags": good_tags(u="https://gw.example/api/upload?name=b.txt")},
            {},
            "authorization event is for another URL ('u' tag)",
        ),
        (
            {"tags": good_tags(u="https://gw.example/api/upload")},
            {},
            "authorization event is for another URL ('u' tag)",
        ),
        (
            {"tags": good_tags(u="https://evil.example/api/upload?name=a.txt")},
            {},
            "authorization event is for another URL ('u' tag)",
        ),
        ({"tags": good_tags(u="")}, {}, "authorization event has no 'u' tag"),
        (
            {"tags": good_tags(method="POST")},
            {},
            "authorization event is for another method ('method' tag must be PUT)",
        ),
        (
            {"tags": good_tags(method="")},
            {},
            "authorization event is for another method ('method' tag must be PUT)",
        ),
        (
            {"tags": good_tags()},
            {"body_sha256": hashlib.sha256(b"other").hexdigest()},
            "request body does not match the authorization event's 'payload' hash",
        ),
        ({"tags": good_tags(payload="nothex")}, {}, "'payload' tag must be the hex SHA-256 of the body"),
        (
            {"tags": good_tags(), "created_at": NOW - 61},
            {},
            "authorization event is stale: created_at must be within 60 s of now",
        ),
        (
            {"tags": good_tags(), "created_at": NOW + 61},
            {},
            "authorization event is stale: created_at must be within 60 s of now",
        ),
        ({"tags": good_tags(), "kind": 24242}, {}, "wrong event kind 24242: expected 27235"),
    ],
)
def test_refusals(event_args: dict[str, Any], check_args: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        check(http_event(**event_args), **check_args)
    assert caught.value.reason == reason


def test_freshness_window_edges() -> None:
    assert check(http_event(good_tags(), created_at=NOW - 60))
    assert check(http_event(good_tags(), created_at=NOW + 60))
