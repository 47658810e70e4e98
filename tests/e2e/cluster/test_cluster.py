"""Cluster-shaped end to end: two gateways, one Blossom, two trackers and one DHT node, each its own
process, sharing one MinIO and one Redis. Whatever one replica stores or learns, the others serve;
a replica that dies mid-download costs the client nothing but a Range request to another one."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from typing import Any

import httpx
from torrent_gateway.bencode import bdecode

from tests.support.announce import announce, compact_ports

from .conftest import Cluster

MiB = 1024 * 1024


def upload(base: str, data: bytes, name: str) -> dict[str, Any]:
    response = httpx.put(f"{base}/api/upload", params={"name": name}, content=data, timeout=120)
    assert response.status_code in (200, 201), response.text
    record: dict[str, Any] = response.json()
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    return record


def test_every_process_is_ready_and_reports_health(cluster: Cluster) -> None:
    for part in cluster.all():
        assert httpx.get(f"{part.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{part.url}/readyz", timeout=5).status_code == 200
    for part in (*cluster.gateways, cluster.dht):
        health = httpx.get(f"{part.url}/api/health", timeout=15)
        assert health.status_code == 200, health.text
        assert health.json()["status"] in ("ok", "degraded")


def test_upload_on_a_served_by_b_and_blossom(cluster: Cluster) -> None:
    a, b = (g.url for g in cluster.gateways)
    large = os.urandom(9 * MiB + 4321)  # chunked: above the 1 MB blob threshold
    small = os.urandom(150_000)  # one blob
    large_record = upload(a, large, "large.bin")
    small_record = upload(a, small, "small.bin")

    # Gateway B never saw the uploads: the manifest and bytes come from MinIO, the index from Redis.
    assert (
        httpx.get(f"{b}/api/files/{large_record['sha256']}", timeout=10).json()["infohash"]
        == large_record["infohash"]
    )
    listed = {
        f["sha256"] for f in httpx.get(f"{b}/api/files", params={"limit": 50}, timeout=10).json()["files"]
    }
    assert {large_record["sha256"], small_record["sha256"]} <= listed
    whole = httpx.get(f"{b}/api/download/{large_record['sha256']}", timeout=120)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == large_record["sha256"]
    # A range across a chunk boundary, served by B.
    ranged = httpx.get(
        f"{b}/api/download/{large_record['sha256']}",
        headers={"Range": f"bytes={2 * MiB - 100}-{2 * MiB + 99}"},
    )
    assert ranged.status_code == 206 and ranged.content == large[2 * MiB - 100 : 2 * MiB + 100]

    blob = httpx.get(f"{cluster.blossom.url}/{small_record['sha256']}", timeout=30)
    assert blob.status_code == 200 and blob.content == small
    chunk = large[2 * MiB : 4 * MiB]
    blob = httpx.get(f"{cluster.blossom.url}/{hashlib.sha256(chunk).hexdigest()}", timeout=30)
    assert blob.status_code == 200 and blob.content == chunk


def test_peer_announced_on_tracker_a_is_seen_on_tracker_b(cluster: Cluster) -> None:
    first, second = (t.url for t in cluster.trackers)
    data = os.urandom(300_000)
    info_hash = bytes.fromhex(upload(cluster.gateways[0].url, data, "swarm.bin")["infohash"])
    announce(first, info_hash, b"-TG0001-seedonA00001", 40001, 0)
    seen = announce(second, info_hash, b"-TG0001-leechonB0002", 40002, len(data))
    assert 40001 in compact_ports(seen[b"peers"])
    back = announce(first, info_hash, b"-TG0001-seedonA00001", 40001, 0)
    assert 40002 in compact_ports(back[b"peers"])
    for tracker in (first, second):
        scrape = httpx.get(
            f"{tracker}/scrape?" + urllib.parse.urlencode({"info_hash": info_hash}), timeout=10
        )
        stats = bdecode(scrape.content)[b"files"][info_hash]
        assert (stats[b"complete"], stats[b"incomplete"]) == (1, 1)


def test_gateway_killed_mid_download_resumes_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.gateways
    data = os.urandom(24 * MiB + 777)
    sha = upload(a.url, data, "resumable.bin")["sha256"]
    received = bytearray()
    with (
        httpx.Client(timeout=60) as client,
        client.stream("GET", f"{a.url}/api/download/{sha}") as response,
    ):
        assert response.status_code == 200
        etag = response.headers.get("etag")
        try:
            for block in response.iter_raw(64 * 1024):
                received += block
                if len(received) >= 7 * MiB and a.process is not None and a.process.poll() is None:
                    a.kill()
        except httpx.HTTPError:
            pass  # the connection died with the process: what a client sees when a pod is killed
    assert a.process is not None and a.process.poll() is not None, "gateway A was not killed mid-download"
    assert 7 * MiB <= len(received) < len(data), len(received)
    assert bytes(received) == data[: len(received)]

    # The client resumes where it stopped, against the replica that is still up; If-Range with the
    # validator it saw makes sure it is the same content.
    headers = {"Range": f"bytes={len(received)}-"}
    if etag:
        headers["If-Range"] = etag
    rest = httpx.get(f"{b.url}/api/download/{sha}", headers=headers, timeout=120)
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {len(received)}-{len(data) - 1}/{len(data)}"
    whole = bytes(received) + rest.content
    assert hashlib.sha256(whole).hexdigest() == sha

    # A restarted gateway A serves the same bytes again.
    a.start()
    a.wait_ready()
    again = httpx.get(f"{a.url}/api/download/{sha}", headers={"Range": "bytes=0-1048575"}, timeout=60)
    assert again.status_code == 206 and again.content == data[:MiB]
