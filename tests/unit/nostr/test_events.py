"""NIP-01 ids and BIP-340 signatures, checked against nostr-sdk (an independent implementation),
and the strict verification every auth path relies on."""

from __future__ import annotations

import base64
import json
from typing import Any

import nostr_sdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torrent_gateway.nostr.events import (
    InvalidEvent,
    compute_event_id,
    decode_auth_header,
    sign_event,
    tag_value,
    tag_values,
    verify_event,
)

KEYS = nostr_sdk.Keys.parse("1" * 64)


def sdk_event(kind: int = 1, content: str = "hi", tags: list[list[str]] | None = None) -> dict[str, Any]:
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content).tags(
        [nostr_sdk.Tag.parse(t) for t in tags or [["x", "y"]]]
    )
    return json.loads(
        builder.custom_created_at(nostr_sdk.Timestamp.from_secs(1_700_000_000)).finalize(KEYS).as_json()
    )  # type: ignore[no-any-return]


TRICKY = [
    'quote " backslash \\ slash /',
    "tab\tnew\nline\rcr",
    "\x00\x01\x1f\x7f",
    "ünïcødé ✓ 🎉",
    "\u2028\u2029",
    "",
]


@pytest.mark.parametrize("content", TRICKY)
def test_our_id_matches_nostr_sdk_and_verifies(content: str) -> None:
    event = sdk_event(content=content, tags=[["t", content], ["e", "a" * 64, "wss://r.example"]])
    assert (
        compute_event_id(event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"])
        == event["id"]
    )
    verify_event(event)


@settings(max_examples=60, deadline=None)
@given(content=st.text(max_size=200), tag=st.lists(st.text(max_size=20), min_size=1, max_size=4))
def test_ids_agree_with_nostr_sdk_for_any_text(content: str, tag: list[str]) -> None:
    try:
        content.encode("utf-8")
        for item in tag:
            item.encode("utf-8")
    except UnicodeEncodeError:
        return
    event = sdk_event(content=content, tags=[tag])
    verify_event(event)


def test_sign_event_verifies_in_nostr_sdk() -> None:
    event = sign_event(
        KEYS, kind=1063, content="c ✓", tags=[["x", "ab"], ["size", "3"]], created_at=1_700_000_000
    )
    parsed = nostr_sdk.Event.from_json(json.dumps(event))
    assert parsed.verify() and parsed.id().to_hex() == event["id"]
    verify_event(event, kinds={1063})


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update(content="changed"), "event id does not match its content"),
        (lambda e: e.update(tags=[["x", "z"]]), "event id does not match its content"),
        (lambda e: e.update(created_at=e["created_at"] + 1), "event id does not match its content"),
        (lambda e: e.update(sig="0" * 128), "invalid event signature"),
        (
            lambda e: e.update(sig=e["sig"][:-1] + ("0" if e["sig"][-1] != "0" else "1")),
            "invalid event signature",
        ),
        (lambda e: e.update(pubkey="f" * 64), "event id does not match its content"),
        (lambda e: e.update(id="A" * 64), "event id must be 64 lowercase hex characters"),
        (lambda e: e.pop("sig"), "event is missing 'sig'"),
        (lambda e: e.update(kind="1"), "event kind must be an integer between 0 and 65535"),
        (lambda e: e.update(kind=True), "event kind must be an integer between 0 and 65535"),
        (lambda e: e.update(kind=70000), "event kind must be an integer between 0 and 65535"),
        (lambda e: e.update(created_at=1.5), "event created_at must be a non-negative integer timestamp"),
        (lambda e: e.update(created_at=-1), "event created_at must be a non-negative integer timestamp"),
        (lambda e: e.update(tags=[["x", 1]]), "every tag must be a list of strings"),
        (lambda e: e.update(tags="x"), "event tags must be a list of at most 512 tags"),
        (lambda e: e.update(tags=[["t"]] * 513), "event tags must be a list of at most 512 tags"),
        (lambda e: e.update(content=None), "event content must be a string of at most 65536 characters"),
    ],
)
def test_tampered_or_malformed_events_are_refused(mutate: Any, reason: str) -> None:
    event = sdk_event()
    mutate(event)
    with pytest.raises(InvalidEvent) as caught:
        verify_event(event)
    assert caught.value.reason == reason


def test_wrong_kind_and_non_objects() -> None:
    with pytest.raises(InvalidEvent, match="wrong event kind 1: expected 22242 or 27235"):
        verify_event(sdk_event(kind=1), kinds={27235, 22242})
    for value in (None, [], "event", 3):
        with pytest.raises(InvalidEvent, match="event must be a JSON object"):
            verify_event(value)


def test_signature_by_another_key_is_refused() -> None:
    event = sdk_event()
    other = nostr_sdk.Keys.generate()
    forged = sign_event(
        other,
        kind=event["kind"],
        content=event["content"],
        tags=event["tags"],
        created_at=event["created_at"],
    )
    forged["pubkey"] = event["pubkey"]
    forged["id"] = event["id"]
    with pytest.raises(InvalidEvent, match="invalid event signature"):
        verify_event(forged)


def test_tag_helpers() -> None:
    event = {"tags": [["x", "1"], ["x", "2", "extra"], ["y"], [], ["u", "https://a"]]}
    assert tag_value(event, "x") == "1" and tag_value(event, "y") is None and tag_value(event, "z") is None
    assert tag_values(event, "x") == ["1", "2"]


@pytest.mark.parametrize("urlsafe", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_auth_header_decodes_both_base64_alphabets(urlsafe: bool, padded: bool) -> None:
    # Content chosen so the encodings contain +/ (or -_) and need padding.
    event = sdk_event(content="??>>??>>~~~~", tags=[["u", "https://gw.example/?a=b"]])
    raw = json.dumps(event).encode()
    encoded = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    if not padded:
        encoded = encoded.rstrip("=")
    assert decode_auth_header(f"Nostr {encoded}") == event
    assert decode_auth_header(f"nostr   {encoded} ") == event


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer abc", "expected 'Authorization: Nostr <base64 event>'"),
        ("Nostr", "expected 'Authorization: Nostr <base64 event>'"),
        ("Nostr !!!!", "authorization is not base64 of an event's JSON"),
        ("Nostr " + base64.b64encode(b"not json").decode(), "authorization is not base64 of an event's JSON"),
        ("Nostr " + base64.b64encode(b"[" * 5000).decode(), "authorization is not base64 of an event's JSON"),
        ("Nostr " + "A" * 20000, "authorization event too large"),
        ("Nostr " + base64.b64encode(b"[1,2]").decode(), "event must be a JSON object"),
    ],
)
def test_bad_auth_headers(header: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_auth_header(header)
    assert caught.value.reason == reason
