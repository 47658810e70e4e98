"""Torrent building: v1 metainfo and hybrid v1+v2 hashes agree with libtorrent's own."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import libtorrent as lt
import pytest
from torrent_gateway.bencode import bencode
from torrent_gateway.ingest.merkle import MerkleFile
from torrent_gateway.ingest.torrent import build_info, infohash_v1, infohash_v2, magnet_link, render_metainfo

PIECE = 32 * 1024


def our_torrent(data: bytes, name: str, hybrid: bool) -> bytes:
    pieces = b"".join(hashlib.sha1(data[i : i + PIECE]).digest() for i in range(0, len(data), PIECE))
    merkle = MerkleFile(PIECE)
    for i in range(0, len(data), PIECE):
        merkle.add_piece(data[i : i + PIECE])
    root = merkle.pieces_root() if hybrid else None
    info = build_info(name, len(data), PIECE, pieces, v2_root=root)
    layers = {root: merkle.piece_layer()} if hybrid and merkle.piece_layer() else None
    return render_metainfo(
        bencode(info), ["http://127.0.0.1:1/announce"], ["http://127.0.0.1:1/ws"], piece_layers=layers
    )


@pytest.mark.parametrize("size", [1, 16 * 1024, 16 * 1024 + 1, PIECE, PIECE * 3 + 5000, PIECE * 8])
@pytest.mark.parametrize("hybrid", [False, True])
def test_matches_libtorrent(tmp_path: Path, size: int, hybrid: bool) -> None:
    data = os.urandom(size)
    (tmp_path / "f.bin").write_bytes(data)
    files = lt.list_files(str(tmp_path / "f.bin"))
    flags = 0 if hybrid else lt.create_torrent.v1_only
    creator = lt.create_torrent(files, PIECE, flags=flags)
    lt.set_piece_hashes(creator, str(tmp_path))
    theirs = lt.torrent_info(creator.generate())
    ours = lt.torrent_info(lt.bdecode(our_torrent(data, "f.bin", hybrid)))
    assert str(ours.info_hashes().v1) == str(theirs.info_hashes().v1)
    if hybrid:
        assert str(ours.info_hashes().v2) == str(theirs.info_hashes().v2)


def test_infohash_and_magnet() -> None:
    info = build_info("a b.txt", 3, PIECE, hashlib.sha1(b"abc").digest())
    assert infohash_v1(info) == hashlib.sha1(bencode(info)).hexdigest()
    assert infohash_v2(info) is None
    magnet = magnet_link("ab" * 20, "a b.txt", 3, ["udp://t:1/announce"], ["http://w/x"])
    assert magnet == (
        "magnet:?xt=urn:btih:"
        + "ab" * 20
        + "&dn=a%20b.txt&xl=3&tr=udp%3A%2F%2Ft%3A1%2Fannounce&ws=http%3A%2F%2Fw%2Fx"
    )


def test_magnet_names_the_torrent_url() -> None:
    """Issue 19: ``xs`` is the .torrent's URL, so clients can skip the metadata exchange."""
    magnet = magnet_link("ab" * 20, "f", 3, [], [], torrent_url="http://gw:9876/api/torrent/" + "cd" * 32)
    query = parse_qs(urlsplit(magnet).query)
    assert query["xs"] == ["http://gw:9876/api/torrent/" + "cd" * 32]
    assert query["xt"] == ["urn:btih:" + "ab" * 20]
