"""Foundation benchmarks, each against its anchor measured in the same run on this machine.

* ingest: a 1 GiB upload vs the hashlib SHA-256 + SHA-1 ceiling (one pass of each over the same
  bytes, the minimum work any ingest must do), with ``storage.fsync`` on (the default, also set
  beside a synced copy of the file: the disk's own bound) and off (the pipeline alone). The
  client sends with sendfile(2), so it takes next to none of the 2 cores the server and the
  anchor are measured on; the same synced upload by ``curl -T`` (a copying client sharing the
  machine) is printed beside it;
* download: one stream of the whole file, and 2 MiB range requests (wrk), vs nginx serving the
  same file from disk;
* memory: peak RSS of the server process while it ingests a 2 GiB upload.

Run: ``python bench/bench_foundation.py [--size-mib 1024] [--out bench/results]``. Loopback only;
every phase is bounded in time. Prints ratios and writes ``foundation.png`` and ``foundation.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    BLOCK,
    RssSampler,
    curl_best_download,
    free_port,
    make_file,
    sendfile_upload,
    start_nginx,
    stop,
    wait_port,
)
from common import wrk_ranges as _wrk_ranges


def curl_download(url: str) -> float:
    """Best of three single-stream downloads, bytes/s."""
    return curl_best_download(url, rounds=3, timeout=300)


def wrk_ranges(base: str, path: str, size: int, workdir: Path, seconds: int = 5) -> float:
    """Bytes/s of 2 MiB range requests over 2 keep-alive connections."""
    return _wrk_ranges(base, path, size, workdir, span=2097152, seed=7, seconds=seconds)


def durable_write_ceiling(source: Path, target: Path) -> float:
    """Bytes/s of copying the file to disk and syncing it: what a durable store can do at best."""
    size = source.stat().st_size
    started = time.perf_counter()
    with source.open("rb") as reader, target.open("wb") as writer:
        while block := reader.read(8 * 1024 * 1024):
            writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return size / elapsed


def hashing_ceiling(path: Path) -> float:
    """Bytes/s of one SHA-256 pass plus one SHA-1 pass over the file (page cache hot)."""
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()
    size = path.stat().st_size
    started = time.perf_counter()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            sha256.update(block)
            sha1.update(block)
    return size / (time.perf_counter() - started)


def start_gateway(data: Path, port: int, *, fsync: bool = True) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TGW_STORAGE__FSYNC": "true" if fsync else "false",
        "TGW_STORAGE__PATH": str(data),
        "TGW_GATEWAY__HOST": "127.0.0.1",
        "TGW_GATEWAY__PORT": str(port),
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_NOSTR__RELAYS": "[]",
        "TGW_DHT__ENABLED": "false",
        "TGW_RATE_LIMITING__ENABLED": "false",
        "TGW_LOGGING__LEVEL": "WARNING",
        "TGW_STORAGE__MAX_FILE_SIZE": str(64 * 1024**3),
        "TGW_RATE_LIMITING__UPLOAD__MAX_FILE_SIZE": str(64 * 1024**3),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "torrent_gateway.cli", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    wait_port(port)
    return process


def curl_upload(url: str, path: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.perf_counter()
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-T", str(path), "-H", "Content-Type: application/octet-stream", url],
        capture_output=True,
        timeout=900,
        check=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, json.loads(result.stdout)


def plot(results: dict, out: Path) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        "ingest (fsync)",
        "ingest (no fsync)",
        "ingest (fsync,\ncurl client)",
        "download",
        "2 MiB ranges",
    ]
    ours = [
        results["ingest_bps"],
        results["ingest_unsynced_bps"],
        results["ingest_curl_bps"],
        results["download_bps"],
        results["ranges_bps"],
    ]
    anchor = [
        results["hash_ceiling_bps"],
        results["hash_ceiling_bps"],
        results["hash_ceiling_bps"],
        results["nginx_download_bps"],
        results["nginx_ranges_bps"],
    ]
    fig, ax = plt.subplots(figsize=(8, 4))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], [v / 1e9 for v in ours], width=0.4, label="torrent-gateway")
    ax.bar([i + 0.2 for i in x], [v / 1e9 for v in anchor], width=0.4, label="anchor (hashlib / nginx)")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("GB/s")
    ax.set_title(f"Foundation throughput (peak RSS {results['peak_rss_mb']:.0f} MB during 2 GiB upload)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rss-size-mib", type=int, default=2048)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-"))
    workdir.chmod(0o755)  # nginx workers run as an unprivileged user
    processes: list[subprocess.Popen[bytes]] = []
    try:
        size = args.size_mib * 1024 * 1024
        source = workdir / "source.bin"
        make_file(source, size)
        ceiling = hashing_ceiling(source)

        port = free_port()
        gateway = start_gateway(workdir / "data", port)
        processes.append(gateway)
        base = f"http://127.0.0.1:{port}"
        # The durable anchor and the synced ingest back to back, each after a sync: this disk
        # slows down after a few GiB of sustained writes, so both meet it in the same state.
        os.sync()
        disk_ceiling = durable_write_ceiling(source, workdir / "disk-probe.bin")
        os.sync()
        elapsed, info = sendfile_upload(port, "/api/upload?name=source.bin", source)
        ingest_bps = size / elapsed
        # The same upload into a store that leaves syncing to the kernel: the pipeline's own speed.
        unsynced_port = free_port()
        unsynced = start_gateway(workdir / "data-unsynced", unsynced_port, fsync=False)
        processes.append(unsynced)
        os.sync()
        elapsed, _ = sendfile_upload(unsynced_port, "/api/upload?name=source.bin", source)
        unsynced_ingest_bps = size / elapsed
        stop(unsynced)
        # The synced upload again, sent by curl into a fresh store: what a client sharing the
        # server's 2 cores and copying every byte through user space costs.
        curl_port = free_port()
        curl_gateway = start_gateway(workdir / "data-curl", curl_port)
        processes.append(curl_gateway)
        os.sync()
        elapsed, _ = curl_upload(f"http://127.0.0.1:{curl_port}/api/upload?name=source.bin", source)
        curl_ingest_bps = size / elapsed
        stop(curl_gateway)
        os.sync()  # their pages go to disk now, not during the download measurements

        download_bps = curl_download(f"{base}/api/download/{info['sha256']}")
        ranges_bps = wrk_ranges(base, f"/api/download/{info['sha256']}", size, workdir)

        nginx_port = free_port()
        processes.append(start_nginx(workdir, nginx_port, workdir))
        nginx_base = f"http://127.0.0.1:{nginx_port}"
        nginx_download = curl_download(f"{nginx_base}/source.bin")
        nginx_ranges = wrk_ranges(nginx_base, "/source.bin", size, workdir)

        # Peak RSS of a fresh server while it ingests the big upload.
        rss_port = free_port()
        rss_gateway = start_gateway(workdir / "data-rss", rss_port)
        processes.append(rss_gateway)
        big = workdir / "big.bin"
        make_file(big, args.rss_size_mib * 1024 * 1024)
        sampler = RssSampler(rss_gateway.pid)
        sampler.start()
        sendfile_upload(rss_port, "/api/upload?name=big.bin", big)
        sampler.stop.set()
        results = {
            "size_bytes": size,
            "hash_ceiling_bps": ceiling,
            "durable_write_bps": disk_ceiling,
            "ingest_bps": ingest_bps,
            "ingest_unsynced_bps": unsynced_ingest_bps,
            "ingest_curl_bps": curl_ingest_bps,
            "download_bps": download_bps,
            "ranges_bps": ranges_bps,
            "nginx_download_bps": nginx_download,
            "nginx_ranges_bps": nginx_ranges,
            "peak_rss_mb": sampler.peak / 1e6,
        }
        (out / "foundation.json").write_text(json.dumps(results, indent=2))
        plot(results, out / "foundation.png")
        gb = 1e9
        print(
            f"ingest   {ingest_bps / gb:6.2f} GB/s  vs hashlib ceiling {ceiling / gb:6.2f} GB/s  ratio {ingest_bps / ceiling:5.2f} (target >= 0.70)"
        )
        print(
            f"         (durable disk write of the same file {disk_ceiling / gb:6.2f} GB/s: ingest/disk {ingest_bps / disk_ceiling:5.2f})"
        )
        print(
            f"ingest   {unsynced_ingest_bps / gb:6.2f} GB/s  with storage.fsync=false        ratio  {unsynced_ingest_bps / ceiling:5.2f} (target >= 0.70)"
        )
        print(
            f"ingest   {curl_ingest_bps / gb:6.2f} GB/s  fsync on, sent by curl -T       ratio  {curl_ingest_bps / ceiling:5.2f} (client shares the 2 cores)"
        )
        print(
            f"download {download_bps / gb:6.2f} GB/s  vs nginx          {nginx_download / gb:6.2f} GB/s  ratio {download_bps / nginx_download:5.2f} (target >= 0.50)"
        )
        print(
            f"ranges   {ranges_bps / gb:6.2f} GB/s  vs nginx          {nginx_ranges / gb:6.2f} GB/s  ratio {ranges_bps / nginx_ranges:5.2f} (target >= 0.50)"
        )
        print(
            f"peak RSS {sampler.peak / 1e6:6.0f} MB during a {args.rss_size_mib} MiB upload (target < 200 MB)"
        )
        print(f"plot: {out / 'foundation.png'}")
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
