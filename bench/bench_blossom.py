"""Blossom benchmarks, each against its anchor measured in the same run on this machine.

* GET: a 50 MB blob fetched whole (curl, best of several) and in 1 MiB ranges (wrk, two
  keep-alive connections) from the standalone Blossom component, vs nginx serving the same
  file from disk;
* PUT: ``PUT /upload`` of distinct 50 MB blobs (curl -T, each with its own BUD-11 token) vs the
  hashlib SHA-256 ceiling (one SHA-256 pass over the same bytes, the least any server that
  verifies the hash must do). The SHA-256 + SHA-1 ceiling (what our ingest actually computes:
  the file hash plus the torrent's piece hashes) is printed alongside.

Run: ``python bench/bench_blossom.py [--size-mb 50] [--out bench/results]``. Loopback only;
every phase is bounded in time and count. Prints ratios and writes ``blossom.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import curl_best_download, free_port, make_file, start_nginx, stop, wait_port
from common import wrk_ranges as _wrk_ranges

SERVER = """
import sys, uvicorn
from torrent_gateway.config import load_settings
from torrent_gateway.blossom import create_blossom_app
settings = load_settings(None)
uvicorn.run(create_blossom_app(settings), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""


def ceilings(path: Path) -> tuple[float, float]:
    """Bytes/s of one SHA-256 pass, and of SHA-256 + SHA-1 passes, over the file (page cache hot)."""
    data = path.read_bytes()
    best_sha256 = best_both = 0.0
    for _ in range(3):
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        best_sha256 = max(best_sha256, len(data) / (time.perf_counter() - started))
        started = time.perf_counter()
        hashlib.sha256(data).digest()
        hashlib.sha1(data).digest()
        best_both = max(best_both, len(data) / (time.perf_counter() - started))
    return best_sha256, best_both


def start_blossom(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TGW_STORAGE__PATH": str(data),
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_NOSTR__RELAYS": "[]",
        "TGW_DHT__ENABLED": "false",
        "TGW_RATE_LIMITING__ENABLED": "false",
        "TGW_LOGGING__LEVEL": "WARNING",
        "TGW_BLOSSOM__MAX_BLOB_SIZE": str(1024**3),
    }
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env, stdout=subprocess.DEVNULL)
    wait_port(port)
    return process


def upload_token(keys: object, sha256: str) -> str:
    from torrent_gateway.nostr.events import sign_event

    now = int(time.time())
    event = sign_event(
        keys,
        kind=24242,
        content="bench upload",
        tags=[["t", "upload"], ["x", sha256], ["expiration", str(now + 600)]],
        created_at=now,
    )
    return "Nostr " + base64.b64encode(json.dumps(event).encode()).decode()


def curl_put(url: str, path: Path, token: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-T",
            str(path),
            "-H",
            f"Authorization: {token}",
            "-H",
            "Content-Type: application/octet-stream",
            url,
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    elapsed = time.perf_counter() - started
    assert json.loads(result.stdout)["size"] == path.stat().st_size
    return elapsed


def curl_get(url: str, rounds: int = 5) -> float:
    """Best of ``rounds`` single-stream downloads, bytes/s."""
    return curl_best_download(url, rounds=rounds, timeout=120)


def wrk_ranges(base: str, path: str, size: int, workdir: Path, seconds: int = 4) -> float:
    """Bytes/s of 1 MiB range requests over 2 keep-alive connections."""
    return _wrk_ranges(base, path, size, workdir, span=1048576, seed=11, seconds=seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--puts", type=int, default=3, help="distinct blobs uploaded (best one counts)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    import nostr_sdk

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-blossom-"))
    workdir.chmod(0o755)  # nginx workers run as an unprivileged user
    processes: list[subprocess.Popen[bytes]] = []
    try:
        size = args.size_mb * 1000 * 1000
        files = []
        for number in range(args.puts):
            path = workdir / f"blob{number}.bin"
            files.append((path, make_file(path, size)))
        (workdir / files[0][0].name).chmod(0o644)
        sha256_ceiling, both_ceiling = ceilings(files[0][0])

        port = free_port()
        processes.append(start_blossom(workdir / "data", port))
        base = f"http://127.0.0.1:{port}"
        keys = nostr_sdk.Keys.generate()
        put_bps = max(size / curl_put(f"{base}/upload", path, upload_token(keys, sha)) for path, sha in files)

        sha = files[0][1]
        get_bps = curl_get(f"{base}/{sha}")
        ranges_bps = wrk_ranges(base, f"/{sha}", size, workdir)

        nginx_port = free_port()
        processes.append(start_nginx(workdir, nginx_port, workdir))
        nginx_base = f"http://127.0.0.1:{nginx_port}"
        nginx_get = curl_get(f"{nginx_base}/{files[0][0].name}")
        nginx_ranges = wrk_ranges(nginx_base, f"/{files[0][0].name}", size, workdir)

        results = {
            "size_bytes": size,
            "put_bps": put_bps,
            "sha256_ceiling_bps": sha256_ceiling,
            "sha256_sha1_ceiling_bps": both_ceiling,
            "get_bps": get_bps,
            "nginx_get_bps": nginx_get,
            "ranges_bps": ranges_bps,
            "nginx_ranges_bps": nginx_ranges,
        }
        (out / "blossom.json").write_text(json.dumps(results, indent=2))
        gb = 1e9
        print(
            f"Blossom GET {args.size_mb} MB    {get_bps / gb:6.2f} GB/s  vs nginx {nginx_get / gb:6.2f} GB/s   ratio {get_bps / nginx_get:5.2f}"
        )
        print(
            f"Blossom 1 MiB ranges {ranges_bps / gb:6.2f} GB/s  vs nginx {nginx_ranges / gb:6.2f} GB/s   ratio {ranges_bps / nginx_ranges:5.2f}"
        )
        print(
            f"Blossom PUT {args.size_mb} MB    {put_bps / gb:6.2f} GB/s  vs SHA-256 {sha256_ceiling / gb:6.2f} GB/s  "
            f"ratio {put_bps / sha256_ceiling:5.2f}  (vs SHA-256+SHA-1 {both_ceiling / gb:5.2f} GB/s: "
            f"{put_bps / both_ceiling:4.2f})"
        )
        print(f"results: {out / 'blossom.json'}")
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
