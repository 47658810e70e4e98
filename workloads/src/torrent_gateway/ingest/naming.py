"""File names and MIME types of uploads: client-supplied, so cleaned before anyone sees them."""

from __future__ import annotations

import mimetypes
import unicodedata

MAX_NAME_BYTES = 200

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


def sniff_mime_type(head: bytes) -> str | None:
    for signature, offset, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    return None


def guess_mime_type(name: str, declared: str | None, head: bytes) -> str:
    """Declared type unless it is generic; else by extension; else by magic bytes; else octet-stream."""
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared not in ("application/octet-stream", "binary/octet-stream") and "/" in declared:
        return declared
    by_name, _ = mimetypes.guess_type(name, strict=False)
    return by_name or sniff_mime_type(head) or "application/octet-stream"
