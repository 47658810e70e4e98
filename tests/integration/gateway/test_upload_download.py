"""Upload and download through the real gateway over HTTP: multipart and raw, blobs and chunks, ranges."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import RunningGateway, running_gateway

CHUNK = 256 * 1024


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path / "data",
        storage={"blob_threshold": 1_000_000, "chunk_size": CHUNK, "max_file_size": 8_000_000},
    ) as running:
        yield running


def store_keys(gateway: RunningGateway) -> list[str]:
    root = Path(gateway.settings.storage.path)
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts
    )


def staging_files(gateway: RunningGateway) -> list[Path]:
    return [p for p in (Path(gateway.settings.storage.path) / ".staging").rglob("*") if p.is_file()]


def test_multipart_upload_small_file_is_a_blob(gateway: RunningGateway) -> None:
    data = os.urandom(300_000)
    response = httpx.post(f"{gateway.url}/api/upload", files={"file": ("photo.png", data, "image/png")})
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["kind"] == "blob" and info["size"] == len(data) and info["type"] == "image/png"
    assert info["name"] == "photo.png"
    magnet = info["magnet"]
    assert magnet.startswith(f"magnet:?xt=urn:btih:{info['infohash']}")
    for part in ("dn=photo.png", f"xl={len(data)}", "tr=http", "ws=http"):
        assert part in magnet
    got = httpx.get(info["urls"]["download"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert "photo.png" in got.headers["content-disposition"]
    assert got.headers["etag"] == f'"{info["sha256"]}"'
    assert f"blobs/{info['sha256']}" in store_keys(gateway)


def test_raw_put_large_file_is_chunked_and_reassembled(gateway: RunningGateway) -> None:
    data = os.urandom(CHUNK * 7 + 12345)
    response = httpx.put(
        f"{gateway.url}/api/upload?name=big.bin",
        content=data,
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["kind"] == "chunked" and info["chunks"] == 8
    assert httpx.get(info["urls"]["download"]).content == data
    keys = store_keys(gateway)
    assert f"manifests/{info['sha256']}.json" in keys
    assert f"torrents/{info['sha256']}.torrent" in keys
    assert f"blobs/{info['sha256']}" not in keys  # chunked: only the chunks are blobs
    for start in range(0, len(data), CHUNK):
        assert f"blobs/{hashlib.sha256(data[start : start + CHUNK]).hexdigest()}" in keys


def test_streamed_upload_without_length_switches_to_chunks(gateway: RunningGateway) -> None:
    data = os.urandom(1_500_000)

    def body() -> Iterator[bytes]:
        for start in range(0, len(data), 100_000):
            yield data[start : start + 100_000]

    response = httpx.put(f"{gateway.url}/api/upload?name=stream.bin", content=body())
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["kind"] == "chunked"
    assert httpx.get(info["urls"]["download"]).content == data


def test_same_content_twice_is_one_record(gateway: RunningGateway) -> None:
    data = os.urandom(50_000)
    first = httpx.put(f"{gateway.url}/api/upload?name=a.bin", content=data)
    second = httpx.post(f"{gateway.url}/api/upload", files={"file": ("b.bin", data)})
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["sha256"] == second.json()["sha256"]
    assert second.json()["name"] == "a.bin"
    manifests = [k for k in store_keys(gateway) if k.startswith("manifests/")]
    assert len(manifests) == 1


def curl_range(url: str, spec: str) -> bytes:
    return subprocess.run(
        ["curl", "-sf", "-r", spec, url], check=True, capture_output=True, timeout=30
    ).stdout


def test_curl_ranges_across_chunk_boundaries(gateway: RunningGateway) -> None:
    data = os.urandom(CHUNK * 5 + 777)
    info = httpx.put(f"{gateway.url}/api/upload?name=r.bin", content=data).json()
    url = info["urls"]["download"]
    for start, end in [
        (0, 0),
        (CHUNK - 10, CHUNK + 10),
        (CHUNK * 2 - 1, CHUNK * 4 + 1),
        (len(data) - 5, len(data) - 1),
    ]:
        assert curl_range(url, f"{start}-{end}") == data[start : end + 1]
    assert curl_range(url, "-100") == data[-100:]
    assert curl_range(url, f"{CHUNK * 5}-") == data[CHUNK * 5 :]


def test_single_and_multiple_ranges(gateway: RunningGateway) -> None:
    data = os.urandom(CHUNK * 3)
    info = httpx.put(f"{gateway.url}/api/upload?name=m.bin", content=data).json()
    url = info["urls"]["download"]
    one = httpx.get(url, headers={"range": "bytes=100-199"})
    assert one.status_code == 206 and one.content == data[100:200]
    assert one.headers["content-range"] == f"bytes 100-199/{len(data)}"
    many = httpx.get(url, headers={"range": f"bytes=0-9,{CHUNK - 5}-{CHUNK + 4}"})
    assert many.status_code == 206
    assert many.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(many.headers["content-length"]) == len(many.content)
    assert data[0:10] in many.content and data[CHUNK - 5 : CHUNK + 5] in many.content
    assert f"Content-Range: bytes {CHUNK - 5}-{CHUNK + 4}/{len(data)}".encode() in many.content
    unsatisfiable = httpx.get(url, headers={"range": f"bytes={len(data)}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
    cached = httpx.get(url, headers={"if-none-match": f'"{info["sha256"]}"'})
    assert cached.status_code == 304 and cached.content == b""
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))


def test_files_json_and_torrent(gateway: RunningGateway) -> None:
    from torrent_gateway.bencode import bdecode, bencode

    data = os.urandom(CHUNK * 2 + 1)
    info = httpx.put(f"{gateway.url}/api/upload?name=t.bin", content=data).json()
    record = httpx.get(f"{gateway.url}/api/files/{info['sha256']}").json()
    assert record["sha256"] == info["sha256"] and record["name"] == "t.bin" and record["size"] == len(data)
    torrent = bdecode(httpx.get(f"{gateway.url}/api/torrent/{info['sha256']}").content)
    assert torrent[b"announce"] == f"{gateway.url}/announce".encode()
    assert torrent[b"url-list"] == [f"{gateway.url}/api/webseed/{info['sha256']}/t.bin".encode()]
    meta = torrent[b"info"]
    assert meta[b"piece length"] == CHUNK and meta[b"length"] == len(data) and meta[b"name"] == b"t.bin"
    pieces = b"".join(hashlib.sha1(data[i : i + CHUNK]).digest() for i in range(0, len(data), CHUNK))
    assert meta[b"pieces"] == pieces
    assert hashlib.sha1(bencode(meta)).hexdigest() == info["infohash"]
    listing = httpx.get(f"{gateway.url}/api/files").json()["files"]
    assert listing[0]["sha256"] == info["sha256"]


def test_bad_input_is_refused_and_store_stays_consistent(gateway: RunningGateway) -> None:
    good = httpx.put(f"{gateway.url}/api/upload?name=keep.bin", content=os.urandom(10_000)).json()
    before = store_keys(gateway)
    # wrong multipart: no boundary, no file part, truncated body, wrong content type
    assert (
        httpx.post(
            f"{gateway.url}/api/upload", content=b"xx", headers={"content-type": "multipart/form-data"}
        ).status_code
        == 400
    )
    assert httpx.post(
        f"{gateway.url}/api/upload", data={"notfile": "x"}, files={"other": ("", b"")}
    ).status_code in (400,)
    truncated = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nabc'
    assert (
        httpx.post(
            f"{gateway.url}/api/upload",
            content=truncated,
            headers={"content-type": "multipart/form-data; boundary=b"},
        ).status_code
        == 400
    )
    assert (
        httpx.post(
            f"{gateway.url}/api/upload", content=b"x", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    # empty file
    empty = httpx.put(f"{gateway.url}/api/upload?name=e", content=b"")
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    # malformed and unknown hashes
    assert httpx.get(f"{gateway.url}/api/download/xyz").status_code == 400
    assert httpx.get(f"{gateway.url}/api/files/{'0' * 63}g").status_code == 400
    assert httpx.get(f"{gateway.url}/api/download/{'0' * 64}").status_code == 404
    assert httpx.get(f"{gateway.url}/api/torrent/{'0' * 64}").status_code == 404
    # path tricks in names are reduced to a plain file name
    tricky = httpx.post(
        f"{gateway.url}/api/upload", files={"file": ("../../etc/passwd", b"secret-ish")}
    ).json()
    assert tricky["name"] == "passwd"
    sneaky = httpx.put(
        f"{gateway.url}/api/upload", params={"name": "..\\..\\x\x00y.txt"}, content=b"abc"
    ).json()
    assert sneaky["name"] == "xy.txt"
    after = store_keys(gateway)
    assert not [k for k in after if ".." in k or "passwd" in k]
    assert set(before) <= set(after)
    assert not staging_files(gateway)
    assert httpx.get(good["urls"]["download"]).status_code == 200


def test_over_limit_upload_is_refused_before_the_body_is_read(gateway: RunningGateway) -> None:
    before = store_keys(gateway)
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"PUT /api/upload?name=huge HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000000\r\n\r\n"
            + b"x" * 1000
        )
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")

    # A streamed body without a length is cut off at the limit too.
    def endless() -> Iterator[bytes]:
        for _ in range(200):
            yield b"y" * 100_000

    response = httpx.put(f"{gateway.url}/api/upload?name=endless", content=endless())
    assert response.status_code == 413
    assert store_keys(gateway) == before
    assert not staging_files(gateway)


def test_client_disconnect_mid_upload_leaves_nothing(gateway: RunningGateway) -> None:
    before = store_keys(gateway)
    host, port = gateway.url.removeprefix("http://").split(":")
    for length in (900_000, 3_000_000):  # one blob-mode, one chunked-mode upload
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"PUT /api/upload?name=cut HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
            )
            sock.sendall(os.urandom(length // 2))
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (store_keys(gateway) != before or staging_files(gateway)):
        time.sleep(0.1)
    assert store_keys(gateway) == before
    assert not staging_files(gateway)
    assert httpx.get(f"{gateway.url}/api/files").json()["files"] == []
