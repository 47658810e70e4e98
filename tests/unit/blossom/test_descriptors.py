"""Blob descriptors (BUD-02) with magnet, infohash and NIP-94 tags (BUD-08)."""

from __future__ import annotations

import pytest
from torrent_gateway.blossom.descriptors import blob_url, descriptor, extension_for
from torrent_gateway.manifest import Manifest

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("mime", "ext"),
    [
        ("image/png", ".png"),
        ("image/jpeg", ".jpg"),
        ("video/mp4", ".mp4"),
        ("application/pdf", ".pdf"),
        ("text/plain; charset=utf-8", ".txt"),
        ("audio/ogg", ".ogg"),
        ("application/octet-stream", ".bin"),
        ("application/x-unknown-thing", ".bin"),
    ],
)
def test_extensions(mime: str, ext: str) -> None:
    assert extension_for(mime) == ext


def manifest(**fields: object) -> Manifest:
    values: dict[str, object] = {
        "sha256": SHA,
        "size": 1234,
        "name": "cat.png",
        "mime_type": "image/png",
        "kind": "blob",
        "chunk_size": 262144,
        "piece_length": 262144,
        "infohash": "cd" * 20,
        "created": 1_700_000_000.7,
    }
    values.update(fields)
    return Manifest.model_validate(values)


def test_descriptor_fields_and_nip94() -> None:
    body = descriptor(
        manifest(), base="https://cdn.example.org/", uploaded=1_700_000_123.9, magnet="magnet:?xt=urn:btih:x"
    )
    url = f"https://cdn.example.org/{SHA}.png"
    assert body["url"] == url == blob_url("https://cdn.example.org", SHA, "image/png")
    assert body["sha256"] == SHA and body["size"] == 1234 and body["type"] == "image/png"
    assert body["uploaded"] == 1_700_000_123
    assert body["magnet"] == "magnet:?xt=urn:btih:x" and body["infohash"] == "cd" * 20
    tags = {tag[0]: tag[1] for tag in body["nip94"]}
    assert tags == {
        "url": url,
        "m": "image/png",
        "x": SHA,
        "ox": SHA,
        "size": "1234",
        "magnet": "magnet:?xt=urn:btih:x",
        "i": "cd" * 20,
    }
    assert all(isinstance(tag, list) and all(isinstance(v, str) for v in tag) for tag in body["nip94"])


def test_descriptor_defaults() -> None:
    body = descriptor(manifest(mime_type="application/octet-stream", infohash=""), base="http://h")
    assert body["url"].endswith(".bin") and body["uploaded"] == 1_700_000_000
    assert "magnet" not in body and "infohash" not in body
    assert [tag[0] for tag in body["nip94"]] == ["url", "m", "x", "ox", "size"]
