"""Torrent metainfo (BEP 3/12/19) and magnet links (BEP 9), built from hashes the ingest computed.

The ``info`` dictionary is fixed at ingest (its SHA-1 is the infohash); the outer metainfo —
trackers and WebSeed URLs — is rendered on request from the current configuration, so a
changed public URL never changes an infohash.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from ..bencode import bencode


def build_info(
    name: str,
    size: int,
    piece_length: int,
    pieces: bytes,
    *,
    private: bool = False,
    v2_root: bytes | None = None,
) -> dict[str, object]:
    info: dict[str, object] = {"name": name, "length": size, "piece length": piece_length, "pieces": pieces}
    if private:
        info["private"] = 1
    if v2_root is not None:
        info["meta version"] = 2
        info["file tree"] = {name: {"": {"length": size, "pieces root": v2_root}}}
    return info


def infohash_v1(info: dict[str, object]) -> str:
    return hashlib.sha1(bencode(info)).hexdigest()


def infohash_v2(info: dict[str, object]) -> str | None:
    if info.get("meta version") != 2:
        return None
    return hashlib.sha256(bencode(info)).hexdigest()


def render_metainfo(
    info_bytes: bytes,
    trackers: list[str],
    webseeds: list[str],
    *,
    piece_layers: dict[bytes, bytes] | None = None,
    created_by: str = "torrent-gateway",
) -> bytes:
    """A .torrent file: ``info_bytes`` is the stored bencoded info dict, embedded verbatim."""
    outer: dict[str, object] = {"created by": created_by}
    if trackers:
        outer["announce"] = trackers[0]
        outer["announce-list"] = [[t] for t in trackers]
    if webseeds:
        outer["url-list"] = webseeds
    if piece_layers:
        outer["piece layers"] = piece_layers
    # Splice the info bytes in unchanged so the infohash is exactly what was stored.
    encoded = bencode({**outer, "info": 0})
    marker = b"4:infoi0e"
    index = encoded.index(marker)
    return encoded[:index] + b"4:info" + info_bytes + encoded[index + len(marker) :]


def magnet_link(
    infohash: str,
    name: str,
    size: int,
    trackers: list[str],
    webseeds: list[str],
    *,
    torrent_url: str | None = None,
) -> str:
    """A magnet link; ``torrent_url`` becomes ``xs`` (the .torrent's URL), so a client may fetch
    the metainfo over HTTP instead of waiting for a peer to send it (BEP 9 metadata exchange)."""
    parts = [f"xt=urn:btih:{infohash}", f"dn={quote(name, safe='')}", f"xl={size}"]
    if torrent_url:
        parts.append(f"xs={quote(torrent_url, safe='')}")
    parts += [f"tr={quote(t, safe='')}" for t in trackers]
    parts += [f"ws={quote(w, safe='')}" for w in webseeds]
    return "magnet:?" + "&".join(parts)
