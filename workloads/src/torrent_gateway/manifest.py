"""The file record (manifest): what a stored file is and where its bytes live.

A manifest at ``manifests/<sha256>.json`` is the source of truth: until it exists the file
does not exist. Blob files have one object ``blobs/<sha256>``; chunked files list their
chunk hashes in order. Where the chunks' bytes are depends on the store the file was uploaded to:
each chunk as the blob ``blobs/<chunk sha256>`` (a directory: an object costs nothing), or the whole
file as one object ``data/<upload id>`` named by ``data_key`` (S3: one multipart object, read by
one GET, where an object per chunk cost the server a request per 2 MiB both ways). Either way a
chunk is also a Blossom blob, found through the file that holds it.
"""

from __future__ import annotations

import re
import time
from typing import Literal

from pydantic import BaseModel, Field

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
INFOHASH_RE = re.compile(r"^[0-9a-f]{40}$")


def is_sha256(value: str) -> bool:
    return bool(SHA256_RE.match(value))


BLOB_PREFIX = "blobs/"
DATA_PREFIX = "data/"


def blob_key(sha256: str) -> str:
    return f"{BLOB_PREFIX}{sha256}"


def data_key(upload_id: str) -> str:
    """Where a chunked file written as one object lives (the id is random: the file's hash is not
    known until its last byte, and S3 names an object when its upload begins)."""
    return f"{DATA_PREFIX}{upload_id}"


def manifest_key(sha256: str) -> str:
    return f"manifests/{sha256}.json"


def torrent_key(sha256: str) -> str:
    return f"torrents/{sha256}.torrent"


def hls_prefix(sha256: str) -> str:
    return f"hls/{sha256}/"


class Announcement(BaseModel):
    """The outcome of publishing one Nostr event to the configured relays."""

    kind: int
    event_id: str
    relays: dict[str, str] = Field(default_factory=dict, description="relay URL → 'ok' or last error")
    published: bool = False


class Manifest(BaseModel):
    sha256: str
    size: int
    name: str
    mime_type: str
    kind: Literal["blob", "chunked"]
    chunk_size: int
    chunks: list[str] = Field(default_factory=list, description="chunk sha256s in order (chunked only)")
    data_key: str | None = Field(
        None,
        description="chunked files kept as one object: its key (the chunks are its consecutive ranges); "
        "None: each chunk is the blob blobs/<chunk sha256>",
    )
    data_offset: int = Field(
        0,
        exclude=True,
        description="a chunk served on its own out of its file's data object: where it starts there "
        "(a record made for serving, never stored)",
    )
    piece_length: int
    infohash: str = Field(description="BitTorrent v1 infohash, hex")
    infohash_v2: str | None = None
    owners: dict[str, float] = Field(default_factory=dict, description="owner pubkey → time it was added")
    anonymous: bool = Field(
        False,
        description="someone published these bytes without a login: a reference no owner can give up",
    )
    created: float = Field(default_factory=time.time)
    private: bool = False
    announce_dht: bool = Field(
        True,
        description="announced to the DHT by our seeder; false keeps it to the tracker and WebSeed only "
        "(the uploader's announce_dht=false; the first upload of the bytes decides)",
    )
    announcements: list[Announcement] = Field(default_factory=list)

    def object_keys(self) -> list[str]:
        """Every object key holding this file's bytes."""
        if self.data_key is not None:
            return [self.data_key]
        if self.kind == "blob":
            return [blob_key(self.sha256)]
        return [blob_key(chunk) for chunk in self.chunks]

    def blob_hashes(self) -> list[str]:
        """The hashes under which this file's bytes are Blossom blobs: the file's own, or its chunks'."""
        return [self.sha256] if self.kind == "blob" else list(dict.fromkeys(self.chunks))

    def chunk_span(self, index: int) -> tuple[int, int]:
        """(offset, length) of chunk ``index`` within the file."""
        start = index * self.chunk_size
        return start, min(self.chunk_size, self.size - start)
