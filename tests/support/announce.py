"""A BitTorrent client's HTTP announce, as the component tests send it to a running tracker."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
from torrent_gateway.bencode import bdecode


def announce(tracker: str, info_hash: bytes, peer_id: bytes, port: int, left: int) -> dict[bytes, Any]:
    """A compact ``started`` announce; the decoded answer, which must not be a failure."""
    query = urllib.parse.urlencode(
        {
            "info_hash": info_hash,
            "peer_id": peer_id,
            "port": port,
            "uploaded": 0,
            "downloaded": 0,
            "left": left,
            "compact": 1,
            "event": "started",
        }
    )
    response = httpx.get(f"{tracker}/announce?{query}", timeout=10)
    assert response.status_code == 200
    answer: dict[bytes, Any] = bdecode(response.content)
    assert b"failure reason" not in answer, answer
    return answer


def compact_ports(peers: bytes) -> set[int]:
    """The ports of a compact (BEP 23) IPv4 peer list."""
    return {int.from_bytes(peers[i + 4 : i + 6], "big") for i in range(0, len(peers), 6)}
