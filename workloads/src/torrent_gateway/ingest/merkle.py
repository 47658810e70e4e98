"""BitTorrent v2 (BEP 52) merkle hashing of one file: 16 KiB leaf blocks, piece layers, pieces root.

Used only for hybrid v1+v2 torrents (``storage.hybrid_torrents``). Beyond the end of the file,
leaf hashes are zero; the upper layers are built over those padded leaves.
"""

from __future__ import annotations

import hashlib

BLOCK = 16 * 1024
ZERO = bytes(32)


def _root(layer: list[bytes], pad: bytes) -> bytes:
    """Root of a layer padded to a power of two with ``pad`` (the root of an all-zero subtree)."""
    if not layer:
        return ZERO
    width = 1
    while width < len(layer):
        width *= 2
    nodes = layer + [pad] * (width - len(layer))
    pads = pad
    while len(nodes) > 1:
        nodes = [hashlib.sha256(nodes[i] + nodes[i + 1]).digest() for i in range(0, len(nodes), 2)]
        pads = hashlib.sha256(pads + pads).digest()
    return nodes[0]


def zero_subtree_root(leaves: int) -> bytes:
    node = ZERO
    while leaves > 1:
        node = hashlib.sha256(node + node).digest()
        leaves //= 2
    return node


class MerkleFile:
    """Incremental v2 hashing. Feed piece-aligned data; read ``pieces_root`` and ``piece_layer``."""

    def __init__(self, piece_length: int) -> None:
        self.piece_length = piece_length
        self.leaves_per_piece = piece_length // BLOCK
        self.piece_hashes: list[bytes] = []
        self.size = 0
        self._first_leaves: list[bytes] = []

    def add_piece(self, data: bytes | memoryview) -> None:
        """One whole piece (or the short last one)."""
        leaves = [hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
        if not self.piece_hashes:
            self._first_leaves = leaves
        self.size += len(data)
        # A short last piece is padded with zero leaves to the full piece width.
        padded = leaves + [ZERO] * (self.leaves_per_piece - len(leaves))
        self.piece_hashes.append(_root(padded, ZERO))

    def pieces_root(self) -> bytes:
        if self.size == 0:
            return ZERO
        if self.size <= self.piece_length:
            # Single piece: the root is over the file's leaves only, padded to a power of two.
            return _root(self._first_leaves, ZERO)
        return _root(self.piece_hashes, zero_subtree_root(self.leaves_per_piece))

    def piece_layer(self) -> bytes:
        """Concatenated piece hashes, present in the torrent only for files larger than a piece."""
        return b"".join(self.piece_hashes) if self.size > self.piece_length else b""
