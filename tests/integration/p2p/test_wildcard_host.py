"""Issue 19: the private DHT works with a wildcard ``dht.host`` (``0.0.0.0`` or ``::``, as in every
pod) and no bootstrap nodes: our seeder introduces itself to our own node through a concrete
address (libtorrent runs no DHT on the loopback socket of a wildcard bind), the node stores the
seeder's announce, and a libtorrent client bootstrapping from the node alone finds the seeder
from a bare magnet link and downloads the file byte for byte."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import libtorrent as lt
import pytest

from .support import client_session, diagnostics, p2p_gateway, seeding, upload, wait_until


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_wildcard_host_dht_finds_our_seeder(tmp_path: Path, host: str) -> None:
    with p2p_gateway(tmp_path / "gw", storage={"blob_threshold": 1_000_000}, p2p={"host": host}) as gateway:
        data = os.urandom(300_000)
        info = upload(gateway, "wildcard.bin", data)
        wait_until(lambda: seeding(gateway, info["infohash"]), 30, what="seeding")
        # The node may store the seeder's announce_peer before it has confirmed the seeder as a
        # node of its routing table (libtorrent adds a node once it has answered a query): wait
        # for both, as the stats loop reports them.
        node = wait_until(
            lambda: (lambda n: n if n["stored_infohashes"] >= 1 and n["routing_table_nodes"] >= 1 else None)(
                diagnostics(gateway)["p2p"]["node"]
            ),
            40,
            0.5,
            what="our node to store the seeder's announce and hold the seeder in its routing table",
        )
        assert not node["address"].startswith(("127.", "[::1]"))  # the pod's address, not loopback
        # The client on the pod's address too (as another pod would be), on a port of its own.
        listen = node["address"].rpartition(":")[0] + ":0"
        session = client_session(dht_bootstrap=node["address"], listen_interfaces=listen)
        try:
            params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{info['infohash']}")
            params.save_path = str(tmp_path / "client")
            handle = session.add_torrent(params)
            deadline = time.monotonic() + 60
            last_nudge = 0.0
            while not handle.status().is_seeding:
                assert time.monotonic() < deadline, f"stuck at {handle.status().progress:.0%}"
                if time.monotonic() - last_nudge > 2:
                    handle.force_dht_announce()  # a fresh get_peers once the client's DHT is up
                    last_nudge = time.monotonic()
                time.sleep(0.1)
        finally:
            del session  # flushes libtorrent's write buffer before the file is read
        got = (tmp_path / "client" / "wildcard.bin").read_bytes()
        assert hashlib.sha256(got).hexdigest() == info["sha256"] == hashlib.sha256(data).hexdigest()
