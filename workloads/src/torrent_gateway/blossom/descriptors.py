"""Blob descriptors (BUD-02) with our extra fields: ``magnet`` and ``infohash`` (every stored
file is also a torrent) and ``nip94``, the file's NIP-94 tags as an array of arrays (BUD-08).

Pure functions of a manifest and the public URLs, so the same JSON comes out of upload,
mirror and list.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from ..manifest import Manifest

# Extensions mimetypes answers oddly or not at all for types Nostr clients embed.
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "text/plain": ".txt",
    "application/octet-stream": ".bin",
    "video/quicktime": ".mov",
    "image/heic": ".heic",
    "image/avif": ".avif",
}


def extension_for(mime: str) -> str:
    """The usual file extension of a MIME type ('.bin' when unknown): BUD-02 urls carry one."""
    bare = mime.split(";", 1)[0].strip().lower()
    if bare in _EXTENSIONS:
        return _EXTENSIONS[bare]
    guessed = mimetypes.guess_extension(bare, strict=False)
    return guessed or ".bin"


def blob_url(base: str, sha256: str, mime: str) -> str:
    return f"{base.rstrip('/')}/{sha256}{extension_for(mime)}"


def nip94_tags(manifest: Manifest, url: str, magnet: str | None) -> list[list[str]]:
    tags = [
        ["url", url],
        ["m", manifest.mime_type],
        ["x", manifest.sha256],
        ["ox", manifest.sha256],
        ["size", str(manifest.size)],
    ]
    if magnet:
        tags.append(["magnet", magnet])
    if manifest.infohash:
        tags.append(["i", manifest.infohash])
    return tags


def descriptor(
    manifest: Manifest, *, base: str, uploaded: float | None = None, magnet: str | None = None
) -> dict[str, Any]:
    """``{url, sha256, size, type, uploaded}`` + ``magnet``, ``infohash``, ``nip94``."""
    url = blob_url(base, manifest.sha256, manifest.mime_type)
    body: dict[str, Any] = {
        "url": url,
        "sha256": manifest.sha256,
        "size": manifest.size,
        "type": manifest.mime_type or "application/octet-stream",
        "uploaded": int(uploaded if uploaded is not None else manifest.created),
    }
    if magnet:
        body["magnet"] = magnet
    if manifest.infohash:
        body["infohash"] = manifest.infohash
    body["nip94"] = nip94_tags(manifest, url, magnet)
    return body
