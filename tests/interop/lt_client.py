"""libtorrent as a client of the interop suite, run inside a client namespace.

``python lt_client.py SAVE_DIR SOURCE [--dht HOST:PORT] [--rate BYTES]``: SOURCE is a .torrent
path or a magnet link. Downloads until complete, prints a JSON summary and exits 0. libtorrent
re-checks files already on disk when a torrent is added, so a second run after a kill resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import libtorrent as lt


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("save_dir")
    parser.add_argument("source")
    parser.add_argument("--dht", default="")
    parser.add_argument("--rate", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--stay", action="store_true", help="keep seeding until killed (swarm bench)")
    args = parser.parse_args()
    session = lt.session(
        {
            "listen_interfaces": "0.0.0.0:0",
            "enable_dht": bool(args.dht),
            "dht_bootstrap_nodes": args.dht,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "download_rate_limit": args.rate,
            "ignore_limits_on_local_network": False,  # the test segment is a local network
            # a private test segment: libtorrent's defences of the public DHT would drop our node
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
            "alert_mask": 0,
        }
    )
    if args.source.startswith("magnet:"):
        params = lt.parse_magnet_uri(args.source)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(args.source)
    params.save_path = args.save_dir
    handle = session.add_torrent(params)
    deadline = time.monotonic() + args.timeout
    last_nudge = 0.0
    while not handle.status().is_seeding:
        if time.monotonic() > deadline:
            print(json.dumps({"ok": False, "progress": handle.status().progress}))
            return 1
        if args.dht and time.monotonic() - last_nudge > 3:
            handle.force_dht_announce()
            last_nudge = time.monotonic()
        time.sleep(0.1)
    status = handle.status()
    sources = sorted(
        {"webseed" if p.flags & lt.peer_info.web_seed else "peer" for p in handle.get_peer_info()}
    )
    summary = {"ok": True, "downloaded": status.total_payload_download, "sources": sources}
    print(json.dumps(summary), flush=True)
    while args.stay:
        time.sleep(1)
    del session  # flushes the write buffer before the harness reads the file
    return 0


if __name__ == "__main__":
    sys.exit(main())
