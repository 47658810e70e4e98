"""A WebSeed or download client that goes away mid-response must not raise in the gateway (issue 19,
defect 3).

BitTorrent clients pipeline their WebSeed range requests on one connection (libtorrent's web peer
sends several before the first answer). When such a client resets the connection, uvicorn (0.55,
httptools) marks only its newest request disconnected, a queued one; the response being written
never learns it, its next body write goes to the closed transport, and uvloop refuses it with
``RuntimeError: unable to perform operation on <TCPTransport closed=True ...>; the handler is
closed`` ("Exception in ASGI application" in the log). The client here is a raw socket that
pipelines two or three GETs, reads nothing and resets (SO_LINGER 0, as the kernel does for a killed
client with unread data), against the real ``torrent-gateway serve`` of the lab.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from typing import Any

import httpx
import pytest

from .gateway import Gateway

ATTEMPTS = 10


def _pipelined_then_reset(gateway: Gateway, path: str, requests: int) -> None:
    """Send ``requests`` GETs of ``path`` at once, read nothing, and reset the connection."""
    with socket.create_connection((gateway.address, gateway.port), timeout=10) as client:
        head = f"GET {path} HTTP/1.1\r\nHost: {gateway.address}\r\n\r\n".encode()
        client.sendall(head * requests)
        time.sleep(0.05)  # the first response is under way when the reset comes
        # SO_LINGER 0: close() sends RST, as the kernel does for a killed client with unread data.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("route", ["webseed", "webseed-named", "download"])
def test_client_reset_mid_response(gateway: Gateway, published: dict[str, Any], route: str) -> None:
    sha256 = published["sha256"]
    path = {
        "webseed": f"/api/webseed/{sha256}",
        "webseed-named": f"/api/webseed/{sha256}/{published['name']}",
        "download": f"/api/download/{sha256}",
    }[route]
    before = len(gateway.log_text())
    for attempt in range(ATTEMPTS):
        _pipelined_then_reset(gateway, path, requests=2 + attempt % 2)
    time.sleep(1.0)  # let the gateway finish (or fail) the responses it was writing
    new_log = gateway.log_text()[before:]
    # Neither an unhandled error nor uvicorn's "ASGI callable returned without completing response".
    assert "Traceback" not in new_log and "ERROR" not in new_log, new_log[-4000:]
    # The gateway still serves the file whole.
    response = httpx.get(gateway.url + path, timeout=30)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sha256
