"""What this server accepts: the pure upload rules shared by ``PUT /upload``, ``HEAD /upload``
(BUD-06) and ``PUT /mirror``, so the preflight answers exactly what the upload would.

Each check raises :class:`BlossomError` with the status BUD-02/06 name: 400 malformed, 403
pubkey not allowed, 409 hash mismatch, 411 length missing, 413 too large or over quota,
415 type refused.
"""

from __future__ import annotations

from collections.abc import Collection

from ..manifest import is_sha256
from .errors import BlossomError

GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
MAX_LENGTH_DIGITS = 19


def parse_sha256_header(value: str | None, header: str = "X-SHA-256") -> str | None:
    """The announced hash, lowercased; None when absent; 400 when malformed."""
    if value is None:
        return None
    sha = value.strip().lower()
    if not is_sha256(sha):
        raise BlossomError(400, f"invalid {header} header: expected 64 hexadecimal characters")
    return sha


def parse_length(value: str | None, header: str) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > MAX_LENGTH_DIGITS:
        raise BlossomError(400, f"invalid {header} header: expected a non-negative integer")
    return int(text)


def media_type(value: str | None) -> str:
    """The bare, lowercased MIME type of a Content-Type value ('' when absent)."""
    return (value or "").split(";", 1)[0].strip().lower()


def type_allowed(mime: str, allowed: Collection[str]) -> bool:
    """``allowed`` holds exact types and ``major/*`` wildcards; empty allows everything."""
    if not allowed:
        return True
    mime = media_type(mime)
    major = mime.split("/", 1)[0]
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern in ("*", "*/*", mime) or (pattern.endswith("/*") and pattern[:-2] == major):
            return True
    return False


def check_type(mime: str | None, allowed: Collection[str], *, declared: bool) -> None:
    """415 for a refused type. A declared generic type is not judged yet: the content decides it."""
    bare = media_type(mime)
    if declared and bare in GENERIC_TYPES:
        return
    if not type_allowed(bare or "application/octet-stream", allowed):
        shown = bare or "application/octet-stream"
        raise BlossomError(415, f"type {shown} is not accepted here (allowed: {', '.join(allowed)})")


def check_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise BlossomError(413, f"blob of {size} bytes exceeds the limit of {max_size} bytes")
    if size == 0:
        raise BlossomError(400, "empty blob: nothing to store")


def check_pubkey(pubkey: str | None, allowed: Collection[str]) -> None:
    if allowed and pubkey not in allowed:
        raise BlossomError(403, "this pubkey is not allowed to upload here")


def check_quota(used: int, size: int, quota: int) -> None:
    if quota and used + size > quota:
        raise BlossomError(413, f"quota exceeded: {used} of {quota} bytes used, this blob needs {size} more")


def check_announced_hash(announced: str | None, actual: str) -> None:
    if announced is not None and announced != actual:
        raise BlossomError(409, f"body hashes to {actual}, not the announced X-SHA-256 {announced}")
