"""Finding 4 of issue 15: no route but the uploads reads more than ``gateway.max_request_body``
(64 KiB by default), refused from Content-Length or cut off while a chunked body streams in,
on the serve composition and on the standalone Blossom component; uploads keep their own limit."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torrent_gateway.blossom.app import create_blossom_app

from tests.support.gateway import RunningGateway, gateway_settings
from tests.support.servers import UvicornThread

LIMIT = 64 * 1024


def read_response_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            break
        head += data
    return head


def stream_unterminated_chunked(url: str, method: str, path: str, total: int) -> bytes:
    """Send ``total`` bytes of a chunked body and never the last chunk: the answer can only come
    from a server that judged the body while it streamed, not after reading all of it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        block = b"[" * 16384
        sent = 0
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what we read next says how
        return read_response_head(sock)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/auth/login"),
        ("POST", "/api/admin/users/" + "a" * 64 + "/ban"),
        ("PUT", "/report"),
        ("PUT", "/mirror"),
    ],
)
def test_declared_large_body_is_refused_before_reading(
    gateway: RunningGateway, method: str, path: str
) -> None:
    body = json.dumps({"pad": "x" * (LIMIT + 1)}).encode()
    response = httpx.request(method, gateway.url + path, content=body, timeout=30)
    assert response.status_code == 413
    assert response.json()["detail"] == f"request body larger than {LIMIT} bytes"
    assert response.headers["x-reason"] == f"request body larger than {LIMIT} bytes"


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/auth/login"), ("PUT", "/report")])
def test_chunked_body_is_cut_off_while_streaming(gateway: RunningGateway, method: str, path: str) -> None:
    head = stream_unterminated_chunked(gateway.url, method, path, 4 * LIMIT)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"x-reason: request body larger than" in head.lower()


def test_small_bodies_still_reach_their_routes(gateway: RunningGateway) -> None:
    response = httpx.put(gateway.url + "/report", content=b"{not json", timeout=30)
    assert response.status_code == 400  # judged by the route, not the guard


def test_uploads_keep_their_own_limit(gateway: RunningGateway) -> None:
    data = os.urandom(4 * LIMIT)
    response = httpx.put(gateway.url + "/api/upload?name=big.bin", content=data, timeout=30)
    assert response.status_code == 201, response.text

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    # Chunked too (no Content-Length): the ingest pipeline bounds it, not the 64 KiB guard.
    response = httpx.put(gateway.url + "/api/upload?name=big2.bin", content=chunks(), timeout=30)
    assert response.status_code in (200, 201), response.text


def test_standalone_blossom_has_the_same_guard(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "blossom")
    with UvicornThread(create_blossom_app(settings)) as server:
        response = httpx.put(server.url + "/report", content=b"{" * (LIMIT + 1), timeout=30)
        assert response.status_code == 413
        assert response.headers["x-reason"] == f"request body larger than {LIMIT} bytes"
        head = stream_unterminated_chunked(server.url, "PUT", "/report", 4 * LIMIT)
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        ok = httpx.put(server.url + "/report", content=b"{}", timeout=30)
        assert ok.status_code == 400
