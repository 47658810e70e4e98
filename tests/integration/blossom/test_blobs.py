"""Blossom over real HTTP: upload, fetch with ranges, one store shared with the gateway's API
(both ways, and chunks of large files), listing and per-owner deletion."""

from __future__ import annotations

import hashlib
import os

import httpx

from tests.support.gateway import RunningGateway
from tests.unit.blossom.tokens import Signer

from .conftest import CHUNK, now, staging_files, store_keys


def put_blob(
    gateway: RunningGateway, signer: Signer, data: bytes, mime: str = "image/png", **headers: str
) -> httpx.Response:
    sha = hashlib.sha256(data).hexdigest()
    return httpx.put(
        f"{gateway.url}/upload",
        content=data,
        headers={"Authorization": signer.token("upload", sha, now=now()), "Content-Type": mime, **headers},
    )


def test_upload_then_fetch_with_real_type_ranges_and_etag(gateway: RunningGateway, alice: Signer) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(50_000)
    sha = hashlib.sha256(data).hexdigest()
    first = put_blob(gateway, alice, data, "image/png", **{"X-SHA-256": sha})
    assert first.status_code == 201, first.headers.get("x-reason")
    assert first.headers["access-control-allow-origin"] == "*"
    body = first.json()
    assert body["url"] == f"{gateway.url}/{sha}.png"
    assert body["sha256"] == sha and body["size"] == len(data) and body["type"] == "image/png"
    assert abs(body["uploaded"] - now()) < 60
    assert body["infohash"] and body["magnet"].startswith(f"magnet:?xt=urn:btih:{body['infohash']}")
    assert ["x", sha] in body["nip94"] and ["m", "image/png"] in body["nip94"]
    again = put_blob(gateway, alice, data)
    assert again.status_code == 200 and again.json()["sha256"] == sha

    # Whatever the extension, the real type comes back.
    for suffix in ("", ".png", ".pdf", ".bin"):
        got = httpx.get(f"{gateway.url}/{sha}{suffix}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "image/png"
        assert got.headers["access-control-allow-origin"] == "*"
        assert "content-disposition" not in got.headers
    upper = httpx.get(f"{gateway.url}/{sha.upper()}")
    assert upper.status_code == 200 and upper.content == data

    head = httpx.head(f"{gateway.url}/{sha}.png")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data)) and head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "image/png"

    part = httpx.get(f"{gateway.url}/{sha}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = httpx.get(f"{gateway.url}/{sha}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]

    multi = httpx.get(f"{gateway.url}/{sha}", headers={"Range": "bytes=0-9,20-29"})
    assert multi.status_code == 206 and multi.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:10] in multi.content and data[20:30] in multi.content

    unsatisfiable = httpx.get(f"{gateway.url}/{sha}", headers={"Range": f"bytes={len(data) + 5}-"})
    assert unsatisfiable.status_code == 416 and unsatisfiable.headers["x-reason"]
    assert unsatisfiable.headers["access-control-allow-origin"] == "*"

    etag = got.headers["etag"]
    assert etag == f'"{sha}"'
    cached = httpx.get(f"{gateway.url}/{sha}", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""


def test_missing_blob_is_404_with_reason(gateway: RunningGateway) -> None:
    missing = "0" * 64
    for method in ("GET", "HEAD"):
        response = httpx.request(method, f"{gateway.url}/{missing}.jpg")
        assert response.status_code == 404 and response.headers["x-reason"] == "blob not found"
        assert response.headers["access-control-allow-origin"] == "*"
    assert httpx.get(f"{gateway.url}/{missing}").json() == {"message": "blob not found"}


def test_blossom_upload_is_an_api_download(gateway: RunningGateway, alice: Signer) -> None:
    data = os.urandom(70_000)
    sha = hashlib.sha256(data).hexdigest()
    assert put_blob(gateway, alice, data, "video/mp4").status_code == 201
    got = httpx.get(f"{gateway.url}/api/download/{sha}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "video/mp4"
    # Owners are not public (the file view names none); the uploader's Blossom list holds it.
    assert httpx.get(f"{gateway.url}/api/files/{sha}").status_code == 200
    listed = httpx.get(f"{gateway.url}/list/{alice.pubkey}").json()
    assert sha in {blob["sha256"] for blob in listed}


def test_api_upload_is_a_blossom_blob(gateway: RunningGateway) -> None:
    data = os.urandom(123_456)
    uploaded = httpx.post(f"{gateway.url}/api/upload", files={"file": ("clip.txt", data, "text/plain")})
    assert uploaded.status_code == 201
    sha = uploaded.json()["sha256"]
    got = httpx.get(f"{gateway.url}/{sha}.txt")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith("text/plain")
    part = httpx.get(f"{gateway.url}/{sha}", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]


def test_chunks_of_a_large_file_are_blobs(gateway: RunningGateway) -> None:
    data = os.urandom(5 * CHUNK + 1234)  # over blob_threshold: stored as 256 KiB chunks
    uploaded = httpx.put(f"{gateway.url}/api/upload?name=big.bin", content=data)
    assert uploaded.status_code == 201 and uploaded.json()["kind"] == "chunked"
    sha = uploaded.json()["sha256"]
    # The whole file is a Blossom blob too, reassembled from its chunks.
    whole = httpx.get(f"{gateway.url}/{sha}")
    assert whole.status_code == 200 and whole.content == data
    spanning = httpx.get(f"{gateway.url}/{sha}", headers={"Range": f"bytes={CHUNK - 10}-{CHUNK + 9}"})
    assert spanning.status_code == 206 and spanning.content == data[CHUNK - 10 : CHUNK + 10]
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    for piece in chunks:
        digest = hashlib.sha256(piece).hexdigest()
        got = httpx.get(f"{gateway.url}/{digest}")
        assert got.status_code == 200 and got.content == piece
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["etag"] == f'"{digest}"'
    last = hashlib.sha256(chunks[-1]).hexdigest()
    head = httpx.head(f"{gateway.url}/{last}.bin")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(chunks[-1]))
    part = httpx.get(f"{gateway.url}/{last}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == chunks[-1][10:20]
    # A blob file that merely exists (no file references it) is not served.
    stray = os.urandom(100)
    stray_sha = hashlib.sha256(stray).hexdigest()
    (gateway.services.store.root / "blobs" / stray_sha).write_bytes(stray)  # type: ignore[attr-defined]
    assert httpx.get(f"{gateway.url}/{stray_sha}").status_code == 404
    (gateway.services.store.root / "blobs" / stray_sha).unlink()  # type: ignore[attr-defined]


def test_list_is_newest_first_with_cursor_and_time_bounds(gateway: RunningGateway) -> None:
    carol = Signer()
    shas = []
    for i in range(5):
        data = f"carol blob {i} ".encode() * 50
        response = put_blob(gateway, carol, data, "text/plain")
        assert response.status_code == 201
        shas.append(response.json()["sha256"])
    listed = httpx.get(f"{gateway.url}/list/{carol.pubkey}")
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "*"
    descriptors = listed.json()
    uploaded = [d["uploaded"] for d in descriptors]
    assert uploaded == sorted(uploaded, reverse=True)
    assert sorted(d["sha256"] for d in descriptors) == sorted(shas)
    assert all(d["url"].endswith(".txt") and d["type"] == "text/plain" for d in descriptors)
    order = [d["sha256"] for d in descriptors]

    paged: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(f"{gateway.url}/list/{carol.pubkey}", params=params).json()
        paged += [d["sha256"] for d in page]
        if len(page) < 2:
            break
        cursor = page[-1]["sha256"]
    assert paged == order

    newest = descriptors[0]["uploaded"]
    assert httpx.get(f"{gateway.url}/list/{carol.pubkey}", params={"since": newest + 1}).json() == []
    assert len(httpx.get(f"{gateway.url}/list/{carol.pubkey}", params={"until": newest}).json()) == 5
    assert httpx.get(f"{gateway.url}/list/{'ab' * 32}").json() == []

    for params, reason in (
        ({"cursor": "nope"}, "cursor"),
        ({"cursor": "0" * 64}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"since": "yesterday"}, "since"),
    ):
        bad = httpx.get(f"{gateway.url}/list/{carol.pubkey}", params=params)
        assert bad.status_code == 400 and reason in bad.headers["x-reason"]
    bad_key = httpx.get(f"{gateway.url}/list/npub1xyz")
    assert bad_key.status_code == 400 and bad_key.headers["x-reason"]


def test_delete_removes_one_owner_and_bytes_go_with_the_last(
    gateway: RunningGateway, alice: Signer, bob: Signer
) -> None:
    data = os.urandom(40_000)
    sha = hashlib.sha256(data).hexdigest()
    assert put_blob(gateway, alice, data, "image/jpeg").status_code == 201
    assert put_blob(gateway, bob, data, "image/jpeg").status_code == 200

    def delete(signer: Signer, target: str = sha) -> httpx.Response:
        return httpx.delete(
            f"{gateway.url}/{target}", headers={"Authorization": signer.token("delete", target, now=now())}
        )

    stranger = Signer()
    refused = delete(stranger)
    assert refused.status_code == 403 and refused.headers["x-reason"]
    first = delete(alice)
    assert first.status_code == 200 and first.json()["deleted"] is False
    assert sha not in [d["sha256"] for d in httpx.get(f"{gateway.url}/list/{alice.pubkey}").json()]
    assert sha in [d["sha256"] for d in httpx.get(f"{gateway.url}/list/{bob.pubkey}").json()]
    assert httpx.get(f"{gateway.url}/{sha}").content == data
    assert delete(alice).status_code == 403  # no longer an owner
    last = delete(bob)
    assert last.status_code == 200 and last.json()["deleted"] is True
    assert httpx.get(f"{gateway.url}/{sha}").status_code == 404
    assert httpx.get(f"{gateway.url}/api/download/{sha}").status_code == 404
    assert not any(sha in key for key in store_keys(gateway))
    assert delete(bob).status_code == 404
    wrong = httpx.delete(
        f"{gateway.url}/{sha}", headers={"Authorization": bob.token("delete", "ab" * 32, now=now())}
    )
    assert wrong.status_code == 403 and "does not cover" in wrong.headers["x-reason"]
    anonymous = httpx.delete(f"{gateway.url}/{sha}")
    assert anonymous.status_code == 401


def test_bytes_shared_with_another_file_survive_deletion(gateway: RunningGateway, alice: Signer) -> None:
    data = os.urandom(4 * CHUNK + 99)
    assert httpx.put(f"{gateway.url}/api/upload?name=shared.bin", content=data).status_code == 201
    chunk = data[:CHUNK]
    chunk_sha = hashlib.sha256(chunk).hexdigest()
    # The same bytes uploaded on their own through Blossom: a file record of their own.
    assert put_blob(gateway, alice, chunk, "application/octet-stream").status_code == 201
    gone = httpx.delete(
        f"{gateway.url}/{chunk_sha}", headers={"Authorization": alice.token("delete", chunk_sha, now=now())}
    )
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert f"manifests/{chunk_sha}.json" not in store_keys(gateway)
    assert f"blobs/{chunk_sha}" in store_keys(gateway)  # still a chunk of shared.bin
    again = httpx.get(f"{gateway.url}/{chunk_sha}")
    assert again.status_code == 200 and again.content == chunk
    assert staging_files(gateway) == []
