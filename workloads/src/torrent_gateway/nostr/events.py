"""Nostr events (NIP-01): ids, BIP-340 signatures, strict verification, and the ``Nostr``
HTTP authorization header shared by NIP-98 and Blossom's BUD-11.

Pure functions only — no I/O — so every auth path (login, NIP-98, Blossom) checks events the
same way and unit tests cover them without sockets. Verification uses coincurve's
libsecp256k1 binding (about 75 µs per event); signing uses nostr-sdk's keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Collection, Iterable
from typing import Any

import coincurve

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")

# Bounds on what we agree to look at: far above any real auth or announcement event, far
# below what could hurt (a header, a login body).
MAX_TAGS = 512
MAX_TAG_ITEMS = 64
MAX_TAG_ITEM_CHARS = 4096
MAX_CONTENT_CHARS = 64 * 1024
MAX_AUTH_HEADER_CHARS = 16 * 1024
MAX_CREATED_AT = 2**40  # ~year 36812: beyond it a timestamp is garbage, not the future


class InvalidEvent(Exception):
    """An event refused; ``reason`` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def serialize_for_id(pubkey: str, created_at: int, kind: int, tags: list[list[str]], content: str) -> bytes:
    """The NIP-01 canonical form ``[0,pubkey,created_at,kind,tags,content]`` as UTF-8 bytes.

    ``json.dumps`` with these options escapes exactly as JSON.stringify does (short escapes
    for \\b \\f \\n \\r \\t \\" \\\\, ``\\u00XX`` for other control characters, everything
    else verbatim), which is what every other implementation hashes.
    """
    text = json.dumps([0, pubkey, created_at, kind, tags, content], separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8: no implementation can have hashed this.
        raise InvalidEvent("event contains text that is not valid Unicode") from None


def compute_event_id(pubkey: str, created_at: int, kind: int, tags: list[list[str]], content: str) -> str:
    return hashlib.sha256(serialize_for_id(pubkey, created_at, kind, tags, content)).hexdigest()


def verify_signature(event_id: str, pubkey: str, sig: str) -> bool:
    """BIP-340 Schnorr check of ``sig`` over the 32-byte id by the x-only ``pubkey`` (all hex)."""
    try:
        key = coincurve.PublicKeyXOnly(bytes.fromhex(pubkey))
        return bool(key.verify(bytes.fromhex(sig), bytes.fromhex(event_id)))
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_shape(event: Any) -> dict[str, Any]:
    """Refuse anything that is not a well-formed, bounded NIP-01 event; return it typed."""
    if not isinstance(event, dict):
        raise InvalidEvent("event must be a JSON object")
    for field in ("id", "pubkey", "created_at", "kind", "tags", "content", "sig"):
        if field not in event:
            raise InvalidEvent(f"event is missing '{field}'")
    if not isinstance(event["id"], str) or not HEX64.match(event["id"]):
        raise InvalidEvent("event id must be 64 lowercase hex characters")
    if not isinstance(event["pubkey"], str) or not HEX64.match(event["pubkey"]):
        raise InvalidEvent("event pubkey must be 64 lowercase hex characters")
    if not isinstance(event["sig"], str) or not HEX128.match(event["sig"]):
        raise InvalidEvent("event sig must be 128 lowercase hex characters")
    if not _is_int(event["created_at"]) or not 0 <= event["created_at"] < MAX_CREATED_AT:
        raise InvalidEvent("event created_at must be a non-negative integer timestamp")
    if not _is_int(event["kind"]) or not 0 <= event["kind"] <= 65535:
        raise InvalidEvent("event kind must be an integer between 0 and 65535")
    if not isinstance(event["content"], str) or len(event["content"]) > MAX_CONTENT_CHARS:
        raise InvalidEvent("event content must be a string of at most 65536 characters")
    tags = event["tags"]
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise InvalidEvent(f"event tags must be a list of at most {MAX_TAGS} tags")
    for tag in tags:
        if not isinstance(tag, list) or len(tag) > MAX_TAG_ITEMS:
            raise InvalidEvent("every tag must be a list of strings")
        for item in tag:
            if not isinstance(item, str) or len(item) > MAX_TAG_ITEM_CHARS:
                raise InvalidEvent("every tag must be a list of strings")
    return event


def verify_event(event: Any, *, kinds: Collection[int] | None = None) -> None:
    """Check shape, kind (when ``kinds`` is given), id and BIP-340 signature.

    Raises :class:`InvalidEvent` with a client-safe reason; returns None when the event is
    authentic. Freshness and tag semantics are the caller's (NIP-98, BUD-11, login).
    """
    checked = check_shape(event)
    if kinds is not None and checked["kind"] not in kinds:
        expected = " or ".join(str(k) for k in sorted(kinds))
        raise InvalidEvent(f"wrong event kind {checked['kind']}: expected {expected}")
    computed = compute_event_id(
        checked["pubkey"], checked["created_at"], checked["kind"], checked["tags"], checked["content"]
    )
    if computed != checked["id"]:
        raise InvalidEvent("event id does not match its content")
    if not verify_signature(checked["id"], checked["pubkey"], checked["sig"]):
        raise InvalidEvent("invalid event signature")


def tag_value(event: dict[str, Any], name: str) -> str | None:
    """The first value of the first tag called ``name`` (``["name", value, ...]``), or None."""
    for tag in event.get("tags", ()):
        if len(tag) >= 2 and tag[0] == name:
            return str(tag[1])
    return None


def tag_values(event: dict[str, Any], name: str) -> list[str]:
    """The first value of every tag called ``name``."""
    return [str(tag[1]) for tag in event.get("tags", ()) if len(tag) >= 2 and tag[0] == name]


def sign_event(
    keys: Any, *, kind: int, content: str, tags: Iterable[Iterable[str]], created_at: int
) -> dict[str, Any]:
    """A signed event from a template; ``keys`` is a ``nostr_sdk.Keys``.

    The id is computed here (our serialization) and signed with BIP-340 by nostr-sdk, so an
    event we produce verifies under both implementations.
    """
    tag_list = [[str(item) for item in tag] for tag in tags]
    pubkey = keys.public_key().to_hex()
    event_id = compute_event_id(pubkey, created_at, kind, tag_list, content)
    sig = keys.sign_schnorr(bytes.fromhex(event_id))
    return {
        "id": event_id,
        "pubkey": pubkey,
        "created_at": created_at,
        "kind": kind,
        "tags": tag_list,
        "content": content,
        "sig": sig,
    }


def decode_auth_header(value: str, *, scheme: str = "Nostr") -> dict[str, Any]:
    """Decode ``Authorization: Nostr <base64 event JSON>`` (standard or URL-safe base64, padding
    optional) into the event dict; its authenticity is still to be checked with verify_event."""
    prefix, _, token = value.strip().partition(" ")
    if prefix.lower() != scheme.lower() or not token.strip():
        raise InvalidEvent(f"expected 'Authorization: {scheme} <base64 event>'")
    token = token.strip()
    if len(token) > MAX_AUTH_HEADER_CHARS:
        raise InvalidEvent("authorization event too large")
    token = token.replace("-", "+").replace("_", "/")
    token += "=" * (-len(token) % 4)
    try:
        raw = base64.b64decode(token, validate=True)
        event = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidEvent("authorization is not base64 of an event's JSON") from None
    return check_shape(event)
