"""Issue 18: the original gateway's ``announce_dht`` upload option. A file uploaded with
``announce_dht=false`` (multipart field, before or after the file, or query parameter) is seeded
and tracked like any other but its infohash never reaches our DHT node; ``true`` or nothing is
announced as before. The choice is in the manifest, so a restarted gateway keeps it.

Whether our DHT node stores an infohash is asked the way any DHT client asks: a KRPC
``get_peers`` on the node's UDP port, which answers ``values`` (peers) only for stored infohashes.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import pytest
from torrent_gateway.bencode import bdecode, bencode

from tests.support.gateway import RunningGateway

from .support import diagnostics, p2p_gateway, scrape, seeding, wait_until

SECTIONS = {"storage": {"blob_threshold": 1_000_000}}


def stored_peers(gateway: RunningGateway, infohash: str) -> list[bytes]:
    """The peers our DHT node holds for ``infohash`` (KRPC get_peers ``values``)."""
    port = int(diagnostics(gateway)["p2p"]["node"]["port"])
    query = {
        "t": b"gp",
        "y": "q",
        "q": "get_peers",
        "a": {"id": os.urandom(20), "info_hash": bytes.fromhex(infohash)},
    }
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3.0)
        sock.sendto(bencode(query), ("127.0.0.1", port))
        while True:
            reply = bdecode(sock.recvfrom(65535)[0])
            if reply.get(b"t") == b"gp":
                break
    assert reply[b"y"] == b"r", reply
    return list(reply[b"r"].get(b"values", []))


def seeder_entry(gateway: RunningGateway, infohash: str) -> dict:  # type: ignore[type-arg]
    return next(e for e in diagnostics(gateway)["p2p"]["seeder"]["files"] if e["infohash"] == infohash)


def upload_multipart(gateway: RunningGateway, name: str, fields: list[tuple[str, tuple]]) -> dict:  # type: ignore[type-arg]
    response = httpx.post(f"{gateway.url}/api/upload", files=fields, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_announce_dht_false_keeps_a_file_out_of_the_dht_but_seeded_tracked_and_restart_proof(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "gw"
    with p2p_gateway(data_dir, with_tracker=True, **SECTIONS) as gateway:
        # The field after the file, as `curl -F file=@x -F announce_dht=false` sends it.
        quiet_field = upload_multipart(
            gateway,
            "quiet.bin",
            [("file", ("quiet.bin", os.urandom(100_000))), ("announce_dht", (None, "false"))],
        )
        quiet_query = httpx.put(
            f"{gateway.url}/api/upload",
            params={"name": "quiet2.bin", "announce_dht": "false"},
            content=os.urandom(90_000),
            timeout=30,
        ).json()
        loud_field = upload_multipart(
            gateway,
            "loud.bin",
            [("announce_dht", (None, "true")), ("file", ("loud.bin", os.urandom(80_000)))],
        )
        loud_default = httpx.put(
            f"{gateway.url}/api/upload", params={"name": "plain.bin"}, content=os.urandom(70_000), timeout=30
        ).json()
        quiet = [quiet_field, quiet_query]
        loud = [loud_field, loud_default]
        assert [f["announce_dht"] for f in quiet + loud] == [False, False, True, True]

        for info in loud:
            wait_until(lambda info=info: stored_peers(gateway, info["infohash"]), 40, 0.5, what="DHT store")
        # Every seeded file has been through at least one more announce round since.
        rounds = {ih: seeder_entry(gateway, ih)["announces"] for ih in (i["infohash"] for i in loud)}
        wait_until(
            lambda: all(seeder_entry(gateway, ih)["announces"] > n for ih, n in rounds.items()),
            40,
            0.5,
            what="another announce round",
        )
        for info in quiet:
            entry = seeding(gateway, info["infohash"])
            assert entry is not None and entry["announce_dht"] is False and entry["announces"] == 0
            assert stored_peers(gateway, info["infohash"]) == []
            # Still tracked: the seeder is the tracker's complete peer for it.
            wait_until(lambda info=info: scrape(gateway, info["infohash"]).get(b"complete", 0) >= 1, 30, 0.5)
        assert diagnostics(gateway)["p2p"]["node"]["stored_infohashes"] == len(loud)
        manifest = json.loads((data_dir / "manifests" / f"{quiet_field['sha256']}.json").read_text())
        assert manifest["announce_dht"] is False

    # A restart reads the choice back from the manifests.
    with p2p_gateway(data_dir, with_tracker=True, **SECTIONS) as gateway:
        for info in loud:
            wait_until(lambda info=info: stored_peers(gateway, info["infohash"]), 40, 0.5, what="DHT store")
        for info in quiet:
            wait_until(lambda info=info: seeding(gateway, info["infohash"]), 30, 0.5, what="seeding")
            assert stored_peers(gateway, info["infohash"]) == []
            assert seeder_entry(gateway, info["infohash"])["announces"] == 0
        file_info = httpx.get(f"{gateway.url}/api/files/{quiet_field['sha256']}", timeout=10).json()
        assert file_info["announce_dht"] is False


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"params": {"announce_dht": "maybe"}, "content": b"x" * 100},
        {"files": [("file", ("a.bin", b"x" * 100)), ("announce_dht", (None, "sometimes"))]},
        {"files": [("file", ("a.bin", b"x" * 100)), ("announce_dht", (None, "f" * 5000))]},
    ],
)
def test_a_bad_announce_dht_is_a_400_and_stores_nothing(tmp_path: Path, request_kwargs: dict) -> None:  # type: ignore[type-arg]
    with p2p_gateway(tmp_path / "gw", **SECTIONS) as gateway:
        method = "POST" if "files" in request_kwargs else "PUT"
        response = httpx.request(method, f"{gateway.url}/api/upload", timeout=30, **request_kwargs)
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": "announce_dht must be true or false"}
        assert not list((tmp_path / "gw" / "manifests").glob("*.json"))
