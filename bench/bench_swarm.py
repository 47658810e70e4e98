"""A swarm of libtorrent clients fetching one file: how much of it the gateway uploads.

The clients sit on a bridge with the real ``torrent-gateway serve`` (tests/interop's lab). To fit
50 clients on two cores, a client is a libtorrent *session*, not a process: a few driver processes
(``--per-process`` sessions each, one network namespace each) run the sessions, and each session
listens on and connects from an address of its own in its namespace, so every client is a host of its
own to the tracker, the seeder and the other clients. Each gets the .torrent without its WebSeed (so
every byte the gateway serves is counted by its seeder), finds the others through our tracker, and
keeps seeding once complete. The anchor is what a server without a swarm would send: N x the file
size. The figure is the gateway's share, its upload over that anchor; below 1.0 the clients served
each other the rest. Every client's file is checked byte for byte (SHA-256) at the end.

``python bench/bench_swarm.py [--clients 50] [--size-mib 256] [--per-process 10] [--limit 900]``
(root: network namespaces). The run is bounded: it fails after ``--limit`` seconds of swarm time.
``--driver`` is the mode the script runs itself in, inside a namespace.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "workloads" / "src"))

from torrent_gateway.bencode import bdecode, bencode  # noqa: E402

from tests.interop.gateway import serve  # noqa: E402
from tests.interop.netns import Lab  # noqa: E402

CLIENT_PORT = 6881  # every session listens on its own address, so one port serves them all


def drive(addresses: list[str], torrent: Path, save_root: Path, limit: float) -> int:
    """Driver mode: one libtorrent session per address, all on ``torrent``; a JSON line on stdout
    when a session holds every piece (libtorrent has checked each one's SHA-1), then seed until
    killed. Exits 1 if the sessions are not all complete within ``limit`` seconds."""
    import libtorrent as lt

    info = lt.torrent_info(str(torrent))
    sessions, handles = [], []
    for index, address in enumerate(addresses):
        session = lt.session(
            {
                "listen_interfaces": f"{address}:{CLIENT_PORT}",
                "outgoing_interfaces": address,
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "alert_mask": 0,
                # Fifty sessions share two cores: one disk and one hashing thread each, not libtorrent's
                # defaults (10 and 2), which would start hundreds of threads.
                "aio_threads": 1,
                "hashing_threads": 1,
            }
        )
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(save_root / f"client{index}")
        sessions.append(session)
        handles.append(session.add_torrent(params))
    started = time.monotonic()
    pending = set(range(len(handles)))
    while pending:
        if time.monotonic() - started > limit:
            return 1
        for index in sorted(pending):
            if handles[index].status().is_seeding:
                pending.discard(index)
                line = {"address": addresses[index], "seconds": round(time.monotonic() - started, 1)}
                print(json.dumps(line), flush=True)
        time.sleep(0.5)
    while True:  # seed for the clients still downloading, until the bench kills the driver
        time.sleep(1)


def _forward(driver: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Each line a driver prints (one per complete client), onto the bench's queue."""
    assert driver.stdout is not None
    for line in driver.stdout:
        lines.put(line)


def _anon_rss(pid: int) -> int:
    """Bytes of a process's anonymous memory (RssAnon): libtorrent maps the files it writes, so
    VmRSS would also count page cache the kernel can drop."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def bench(clients: int, size: int, per_process: int, limit: float) -> dict[str, Any]:
    import httpx

    work = Path(tempfile.mkdtemp(prefix="tgw-swarm-"))
    drivers: list[subprocess.Popen[str]] = []
    try:
        with Lab() as lab, serve(lab.gateway_address, work / "data", work / "gateway.log") as gateway:
            data = os.urandom(size)
            digest = hashlib.sha256(data).hexdigest()
            info = gateway.upload("swarm.bin", data, timeout=300)
            del data
            deadline = time.monotonic() + 300
            while not gateway.seeding(info["infohash"]):
                assert time.monotonic() < deadline, "the seeder never seeded the file"
                time.sleep(0.5)
            metainfo = bdecode(httpx.get(info["urls"]["torrent"], timeout=30).content)
            metainfo.pop(b"url-list", None)  # only the seeder serves: its upload is the gateway's
            torrent = work / "swarm.torrent"
            torrent.write_bytes(bencode(metainfo))
            targets: dict[str, Path] = {}
            started = time.monotonic()
            for group, first in enumerate(range(0, clients, per_process)):
                count = min(per_process, clients - first)
                host = lab.add_host(f"g{group}", addresses=count)
                save_root = work / f"group{group}"
                for index, address in enumerate(host.addresses):
                    targets[address] = save_root / f"client{index}" / "swarm.bin"
                argv = [sys.executable, __file__, "--driver", ",".join(host.addresses)]
                argv += ["--torrent", str(torrent), "--save-root", str(save_root), "--limit", str(limit)]
                log = (work / f"group{group}.log").open("w")
                drivers.append(
                    subprocess.Popen(host.argv(argv), stdout=subprocess.PIPE, stderr=log, text=True)
                )
            lines: queue.Queue[str] = queue.Queue()
            for driver in drivers:
                threading.Thread(target=_forward, args=(driver, lines), daemon=True).start()
            finished: dict[str, float] = {}
            peak_driver = peak_gateway = 0
            while len(finished) < clients:
                elapsed = time.monotonic() - started
                assert elapsed < limit, f"{clients - len(finished)} of {clients} clients unfinished"
                for driver in drivers:
                    assert driver.poll() is None, f"a driver exited with {driver.returncode}"
                    peak_driver = max(peak_driver, _anon_rss(driver.pid))  # `ip netns exec` execs
                peak_gateway = max(peak_gateway, _anon_rss(gateway.process.pid))
                try:
                    line = json.loads(lines.get(timeout=1.0))
                except queue.Empty:
                    continue
                finished[line["address"]] = line["seconds"]
            seconds = time.monotonic() - started
            time.sleep(6)  # one more stats round of the seeder
            entry = next(
                f
                for f in gateway.diagnostics()["p2p"]["seeder"]["files"]
                if f["infohash"] == info["infohash"]
            )
            for driver in drivers:
                driver.kill()
                driver.wait()
            drivers.clear()
            wrong = [address for address, path in targets.items() if _sha256(path) != digest]
            assert not wrong, f"not byte-identical: clients {wrong}"
    finally:
        for driver in drivers:
            driver.kill()
            driver.wait()
        shutil.rmtree(work, ignore_errors=True)
    times = sorted(finished.values())
    return {
        "clients": clients,
        "size": size,
        "seconds": seconds,
        "first": times[0],
        "median": times[len(times) // 2],
        "served": int(entry["uploaded"]),
        "drivers": len(range(0, clients, per_process)),
        "peak_driver": peak_driver,
        "peak_gateway": peak_gateway,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--per-process", type=int, default=10, help="libtorrent sessions per driver")
    parser.add_argument("--limit", type=float, default=900.0, help="seconds the swarm may take")
    parser.add_argument("--driver", metavar="ADDRESSES", help=argparse.SUPPRESS)
    parser.add_argument("--torrent", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--save-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        return drive(args.driver.split(","), args.torrent, args.save_root, args.limit)
    if not 1 <= args.clients <= 200 or not 1 <= args.size_mib <= 4096 or args.per_process < 1:
        parser.error("--clients 1..200, --size-mib 1..4096, --per-process >= 1")
    result = bench(args.clients, args.size_mib * 1024 * 1024, args.per_process, args.limit)
    anchor = result["clients"] * result["size"]
    print(
        f"clients: {result['clients']}, file: {result['size'] // (1024 * 1024)} MiB, all byte-identical"
        f" in {result['seconds']:.1f} s (first complete {result['first']:.1f} s,"
        f" median {result['median']:.1f} s)"
    )
    print(f"gateway uploaded: {result['served']} bytes; anchor (N x size): {anchor} bytes")
    print(f"gateway share: {result['served'] / anchor:.3f} (1.000 = the gateway sent every copy)")
    mib = 1024 * 1024
    print(
        f"memory (RssAnon, peak): {result['drivers']} drivers up to {result['peak_driver'] / mib:.0f} MiB"
        f" each, gateway {result['peak_gateway'] / mib:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
