"""File names and MIME types of uploads: client-supplied, so cleaned before anyone sees them.

A media type is kept only when it is RFC 9110 ``type/subtype`` token syntax (anything else becomes
``application/octet-stream``), and :func:`is_passive_type` is the allow-list of types a browser
may show inline from our origin: everything else is served as an attachment.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

MAX_NAME_BYTES = 200
GENERIC_TYPE = "application/octet-stream"
# RFC 9110 §5.6.2 tchar; RFC 6838 §4.2 bounds each half to 127 characters.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,127}"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")
# Types a browser renders as inert media or plain text, never as a document that runs script:
# an allow-list, so a type nobody thought of (svg, xhtml, xml, html, js, pdf, ...) is an attachment.
PASSIVE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "text/plain",
        GENERIC_TYPE,
    }
)
PASSIVE_MAJOR_TYPES = frozenset({"audio", "video"})

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
    (b"ftyp", 4, "video/mp4"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"fLaC", 0, "audio/flac"),
    (b"d8:announce", 0, "application/x-bittorrent"),
]


def safe_file_name(name: str | None, default: str = "file") -> str:
    """The last path component, without control characters, dot-only names or over-long bytes."""
    if not name:
        return default
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '<>:"|?*')
    name = name.strip().strip(".").strip()
    if not name:
        return default
    encoded = name.encode()
    if len(encoded) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext.encode()) <= 16 else ""
        budget = MAX_NAME_BYTES - len(keep.encode()) - (1 if keep else 0)
        stem_part = (stem if keep else name).encode()[:budget].decode("utf-8", "ignore")
        name = f"{stem_part}.{keep}" if keep else stem_part
    return name


def clean_media_type(value: str | None) -> str:
    """The bare, lowercased ``type/subtype`` of a Content-Type value when it is valid RFC 9110
    syntax; ``application/octet-stream`` for anything else (absent, parameters only, control
    characters, spaces, over-long)."""
    bare = (value or "").split(";", 1)[0].strip()
    # "*" is a tchar, but a wildcard is a pattern (Accept), never the type of stored bytes.
    if not _MEDIA_TYPE.fullmatch(bare) or "*" in bare:
        return GENERIC_TYPE
    return bare.lower()


def is_passive_type(mime: str) -> bool:
    """May a browser show bytes of this (clean) type inline without running anything from them?"""
    mime = clean_media_type(mime)
    if mime in PASSIVE_TYPES:
        return True
    major, _, subtype = mime.partition("/")
    # A "video/..." or "audio/..." label on markup is still markup to a sniffing browser; nosniff
    # stops sniffing, and these majors never render as documents. Playlists are text: attachment.
    return major in PASSIVE_MAJOR_TYPES and "mpegurl" not in subtype


def sniff_mime_type(head: bytes) -> str | None:
    for signature, offset, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    return None


def guess_mime_type(name: str, declared: str | None, head: bytes) -> str:
    """Declared type unless it is generic; else by extension; else by magic bytes; else octet-stream."""
    declared = clean_media_type(declared)
    if declared not in (GENERIC_TYPE, "binary/octet-stream"):
        return declared
    by_name, _ = mimetypes.guess_type(name, strict=False)
    return clean_media_type(by_name or sniff_mime_type(head))
