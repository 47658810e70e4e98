"""``storage.s3.redirect_downloads``: a download answered with a 307 to a presigned GET of the file's
object, so MinIO sends the bytes and the gateway only decides who gets them.

Checked on a real gateway (the serve composition) over a real MinIO, followed by curl as a user's
client would: whole files and single ranges arrive byte-exact from MinIO, with the type and the
attachment disposition the gateway would have sent; large files (one object) and small ones (a
blob) alike. What S3 would answer differently stays with the gateway: HEAD, If-None-Match,
If-Range, several ranges, a range past the end, the WebSeed, files kept chunk by chunk. The URL is
signed for ``public_endpoint`` and for a while only: MinIO refuses it once it expires, and refuses
it with a changed key. Settings that could not work are refused at start.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from torrent_gateway.config import Settings

from tests.support.gateway import RunningGateway, running_gateway
from tests.support.minio import MinioServer

from .test_read_ahead import CHUNK
from .test_whole_file_layout import old_layout_file, run, s3_gateway, upload

SIZE = 3 * 1024 * 1024 + 12345


@pytest.fixture
def gateway(tmp_path: Path, minio_server: MinioServer) -> Iterator[RunningGateway]:
    with running_gateway(
        tmp_path / "data",
        serve=True,
        storage={
            "backend": "s3",
            "blob_threshold": 200_000,
            "chunk_size": CHUNK,
            "s3": {
                "endpoint": minio_server.endpoint,
                "bucket": f"presign-{os.urandom(6).hex()}",
                "access_key": minio_server.access_key,
                "secret_key": minio_server.secret_key,
                "cache_dir": str(tmp_path / "cache"),
                "redirect_downloads": True,
                # The address clients use; here the same MinIO, as the URL a proxy would pass on.
                "public_endpoint": minio_server.url,
            },
        },
        gc={"enabled": False},
    ) as running:
        yield running


def curl(url: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET with curl following redirects (as a user would): the last answer's status, headers, body."""
    command = ["curl", "-sS", "-L", "--max-time", "60", "-D", "-", "-o", "-"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run([*command, url], capture_output=True, check=True, timeout=90).stdout
    # -D - writes each answer's head before the final body: the last head is the one that counts.
    heads_and_body = output
    status, fields, body = 0, {}, b""
    while heads_and_body.startswith(b"HTTP/"):
        head, _, heads_and_body = heads_and_body.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        body = heads_and_body
    return status, fields, body


def first_answer(gateway: RunningGateway, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", headers=headers, timeout=60, follow_redirects=False)


@pytest.mark.parametrize("size", [SIZE, 50_000], ids=["one-object", "blob"])
def test_a_download_is_sent_by_minio_byte_exact(
    gateway: RunningGateway, minio_server: MinioServer, size: int
) -> None:
    data = os.urandom(size)
    sha = upload(gateway, data, name="report <1>.png")["sha256"]
    path = f"/api/download/{sha}"

    answer = first_answer(gateway, path)
    assert answer.status_code == 307
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == minio_server.url
    assert answer.headers["cache-control"] == "no-store"
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["300"]

    status, headers, body = curl(f"{gateway.url}{path}")
    assert status == 200 and body == data
    # The gateway's own headers, carried by S3's response overrides.
    local = first_answer(gateway, path, **{"If-None-Match": "nothing"})  # served here: compare
    assert local.status_code == 200 and local.headers["content-type"] == "image/png"
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"] == local.headers["content-disposition"]
    assert (
        headers["content-disposition"].startswith("attachment;")
        and "report" in headers["content-disposition"]
    )

    for start, end in [(0, 0), (size // 2 - 5, size // 2 + 5), (size - 100, size - 1), (7, size + 100)]:
        assert first_answer(gateway, path, Range=f"bytes={start}-{end}").status_code == 307
        status, headers, body = curl(f"{gateway.url}{path}", f"Range: bytes={start}-{end}")
        last = min(end, size - 1)
        assert status == 206 and body == data[start : last + 1]
        assert headers["content-range"] == f"bytes {start}-{last}/{size}"
    status, _, body = curl(f"{gateway.url}{path}", "Range: bytes=-1000")
    assert status == 206 and body == data[-1000:]


def test_an_active_type_leaves_the_store_as_opaque_bytes(gateway: RunningGateway) -> None:
    """The gateway sends HTML with nosniff and a sandbox; S3 can send neither, so no HTML at all."""
    data = b"<script>alert(document.domain)</script>" * 10
    sha = upload(gateway, data, name="page.html")["sha256"]
    local = first_answer(gateway, f"/api/download/{sha}", **{"If-None-Match": "nothing"})
    assert local.headers["content-security-policy"].startswith("sandbox")
    status, headers, body = curl(f"{gateway.url}/api/download/{sha}")
    assert status == 200 and body == data
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment;")


def test_what_s3_would_answer_differently_is_served_here(gateway: RunningGateway) -> None:
    data = os.urandom(SIZE)
    sha = upload(gateway, data)["sha256"]
    path = f"/api/download/{sha}"
    etag = f'"{sha}"'

    head = httpx.head(f"{gateway.url}{path}", timeout=60)
    assert head.status_code == 200 and int(head.headers["content-length"]) == SIZE
    assert first_answer(gateway, path, **{"If-None-Match": etag}).status_code == 304
    stale = first_answer(gateway, path, Range="bytes=0-9", **{"If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data
    fresh = first_answer(gateway, path, Range="bytes=0-9", **{"If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == data[:10]
    several = first_answer(gateway, path, Range="bytes=0-9,100-109")
    assert several.status_code == 206 and several.headers["content-type"].startswith("multipart/byteranges")
    past = first_answer(gateway, path, Range=f"bytes={SIZE}-")
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{SIZE}"
    ignored = first_answer(gateway, path, Range="lines=1-2")
    assert ignored.status_code == 200 and ignored.content == data
    # BitTorrent clients ask the WebSeed for many short ranges: a redirect would double each trip.
    piece = first_answer(gateway, f"/api/webseed/{sha}", Range=f"bytes={CHUNK}-{2 * CHUNK - 1}")
    assert piece.status_code == 206 and piece.content == data[CHUNK : 2 * CHUNK]


def test_a_file_kept_chunk_by_chunk_is_served_here(gateway: RunningGateway) -> None:
    manifest, data = old_layout_file(gateway)
    answer = first_answer(gateway, f"/api/download/{manifest.sha256}")
    assert answer.status_code == 200 and answer.content == data


def test_the_url_is_bound_to_its_object_and_its_time(gateway: RunningGateway) -> None:
    data = os.urandom(50_000)
    sha = upload(gateway, data)["sha256"]
    manifest = run(gateway, gateway.services.catalog.get(sha))
    url = gateway.services.reader.object_url(manifest, expires=1, response_headers={})
    assert url is not None
    assert httpx.get(url, timeout=30).content == data
    other = upload(gateway, os.urandom(50_000))["sha256"]
    tampered = url.replace(sha, other)
    assert httpx.get(tampered, timeout=30).status_code == 403
    time.sleep(2.5)
    expired = httpx.get(url, timeout=30)
    assert expired.status_code == 403 and b"expired" in expired.content


def test_downloads_are_counted_when_redirected(gateway: RunningGateway) -> None:
    sha = upload(gateway, os.urandom(50_000))["sha256"]
    for _ in range(2):
        assert first_answer(gateway, f"/api/download/{sha}").status_code == 307
    assert first_answer(gateway, f"/api/download/{sha}", Range="bytes=10-20").status_code == 307
    counted = run(gateway, gateway.services.state.get(f"stats:downloads:{sha}"))
    assert int(counted) == 2


@pytest.mark.parametrize(
    ("s3", "message"),
    [
        ({"redirect_downloads": True}, "needs storage.s3.public_endpoint"),
        ({"public_endpoint": "minio.example.org:9000"}, "must be http(s)://host[:port]"),
        ({"public_endpoint": "https://example.org/s3"}, "without a path or query"),
        # The origin goes into the web UI's CSP: nothing may smuggle a directive in.
        ({"public_endpoint": "https://s3.example.org; script-src *"}, "without a path or query"),
        ({"public_endpoint": "https://s3.example.org 'unsafe-inline'"}, "without a path or query"),
        ({"public_endpoint": "https://example.org", "redirect_ttl": 5}, "redirect_ttl"),
    ],
)
def test_settings_that_cannot_work_are_refused(s3: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings.model_validate({"storage": {"backend": "s3", "s3": {"endpoint": "127.0.0.1:9", **s3}}})


def test_without_the_setting_downloads_stay_here(tmp_path: Path, minio_server: MinioServer) -> None:
    with s3_gateway(tmp_path, minio_server, blob_threshold=200_000) as plain:
        data = os.urandom(SIZE)
        sha = upload(plain, data)["sha256"]
        answer = first_answer(plain, f"/api/download/{sha}")
        assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() == sha
