"""The S3 path against MinIO itself, in one run on this machine.

* upload: a 1 GiB file PUT to the gateway (``torrent-gateway gateway`` with ``storage.backend: s3``;
  the client sends with sendfile(2)), which hashes it (file SHA-256, SHA-1 per piece, SHA-256 per
  chunk) and writes it to MinIO as one object in 8 MiB parts, vs a direct multipart PUT of the same
  file to the same MinIO with the SDK the store uses (minio-py ``fput_object``, its default part
  size, 3 parallel parts). In turns (direct, gateway, direct, ...; three each by default), best of
  each, the median ratio of the pairs beside it; each of the gateway's rounds uploads a file whose
  first bytes are new, so none is found stored already. Target >= 0.6x. The CPU seconds per GiB of
  MinIO and of the SDK client or the gateway are printed beside it: both sides are bound by CPU
  here (the gateway's three hashes alone take 2.6 CPU-s per GiB on a core hashing 1.2 GB/s).
* download: the whole file from the gateway (one ranged GET of the file's object, streamed in
  blocks) vs a plain S3 GET of the object the anchor uploaded, straight from MinIO with a presigned
  URL; both by curl, in turns (direct, gateway, direct, ...; five each by default), best of each.
  Target >= 0.8x; the median ratio of the pairs is printed beside it. The CPU seconds MinIO and the gateway spent per
  GiB in the best round are printed beside it: on a machine whose cores are busy the download is
  bound by CPU, and the gateway's relay (a copy in, a copy out, and the loopback TCP work of both
  hops) is what the direct GET does not pay.
* download with ``storage.s3.redirect_downloads``: a second gateway on the same bucket answers the
  same GET with a 307 to a presigned GET of the object at MinIO, which curl follows (``-L``); timed
  from the gateway's answer to MinIO's last byte, in the same turns. The gateway's CPU per GiB is
  then only the redirect's.
* memory: peak RSS of the gateway process over both (target < 200 MB). In S3 mode the gateway keeps
  an LRU of chunks in memory (``gateway.chunk_cache_bytes``, 64 MiB by default), which pieces and
  small files fill; a whole download streams past it, two 4 MiB blocks at a time. The run names
  the setting (``--chunk-cache-mib``, 64 by default here).

MinIO is the pinned build of ``tests/support/build_minio.sh`` (``make minio``), on 127.0.0.1 with
its data on this machine's disk. Run: ``python bench/bench_s3.py [--size-mib 1024]``. Loopback
only; every phase is bounded in time. The load average is printed at the start and the end: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import RssSampler, free_port, make_file, sendfile_upload, stop, wait_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.minio import run_minio_server  # noqa: E402 - the one copy of MinIO's start-up

BUCKET_OURS = "bench-gateway"
BUCKET_ANCHOR = "bench-direct"


def start_gateway(
    minio: object, workdir: Path, chunk_cache: int, *, redirect: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "config.yaml"
    config.write_text("{}\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [
                str(ROOT / "workloads" / "src"),
                str(ROOT / "operator" / "src"),
                os.environ.get("PYTHONPATH", ""),
            ]
        ),
        # As the image sets it (see Dockerfile): two malloc arenas instead of one per S3 thread.
        "MALLOC_ARENA_MAX": "2",
        "TGW_CONFIG": str(config),
        "TGW_GATEWAY__HOST": "127.0.0.1",
        "TGW_GATEWAY__PORT": str(port),
        "TGW_GATEWAY__CHUNK_CACHE_BYTES": str(chunk_cache),
        "TGW_STORAGE__BACKEND": "s3",
        "TGW_STORAGE__MAX_FILE_SIZE": str(4 * 1024**3),
        "TGW_STORAGE__S3__ENDPOINT": minio.endpoint,  # type: ignore[attr-defined]
        "TGW_STORAGE__S3__BUCKET": BUCKET_OURS,
        "TGW_STORAGE__S3__ACCESS_KEY": minio.access_key,  # type: ignore[attr-defined]
        "TGW_STORAGE__S3__SECRET_KEY": minio.secret_key,  # type: ignore[attr-defined]
        "TGW_STATE__BACKEND": "memory",
        "TGW_RATE_LIMITING__ENABLED": "false",
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_NOSTR__RELAYS": "[]",
        "TGW_HLS__ENABLED": "false",
        "TGW_GC__ENABLED": "false",
        "TGW_LOGGING__LEVEL": "WARNING",
        "TGW_STORAGE__S3__REDIRECT_DOWNLOADS": "true" if redirect else "false",
        "TGW_STORAGE__S3__PUBLIC_ENDPOINT": minio.url if redirect else "",  # type: ignore[attr-defined]
        # Its own cache directory: a second gateway may run beside the first.
        "TGW_STORAGE__S3__CACHE_DIR": str(workdir / f"cache-{port}"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "torrent_gateway.cli", "gateway"], env=env, stderr=subprocess.DEVNULL
    )
    wait_port(port, timeout=60)
    return process, port


def renew_head(path: Path) -> str:
    """Give the file new first bytes (a new file to the gateway, the same work); its new SHA-256."""
    with path.open("r+b") as handle:
        handle.write(os.urandom(64))
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(16 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Download:
    """Single-stream curl downloads of one URL, with the CPU the servers spent on each."""

    speeds: list[float] = field(default_factory=list)
    cpus: list[dict[str, float]] = field(default_factory=list)  # server name -> CPU seconds per GiB

    @property
    def best(self) -> int:
        return max(range(len(self.speeds)), key=self.speeds.__getitem__)

    @property
    def speed(self) -> float:
        return self.speeds[self.best]

    @property
    def cpu(self) -> dict[str, float]:
        """CPU per GiB in the fastest round."""
        return self.cpus[self.best]

    def round(self, url: str, size: int, servers: dict[str, int], timeout: float = 300) -> None:
        before = {name: cpu_seconds(pid) for name, pid in servers.items()}
        speed = float(
            subprocess.run(
                # -L: a redirected download is timed from the gateway's 307 to MinIO's last byte.
                ["curl", "-sS", "--fail", "-L", "-o", "/dev/null", "-w", "%{speed_download}", url],
                capture_output=True,
                timeout=timeout,
                check=True,
            ).stdout
        )
        self.cpus.append(
            {name: (cpu_seconds(pid) - before[name]) * 1024**3 / size for name, pid in servers.items()}
        )
        self.speeds.append(speed)


@contextlib.contextmanager
def sampling(pid: int) -> Iterator[RssSampler]:
    sampler = RssSampler(pid)
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        sampler.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument(
        "--chunk-cache-mib",
        type=int,
        default=64,
        help="gateway.chunk_cache_bytes: the LRU of chunks held in memory in S3 mode (default setting: 64 MiB), "
        "which the peak RSS includes once a download has filled it",
    )
    parser.add_argument("--rounds", type=int, default=5, help="download rounds of each, taken in turn")
    parser.add_argument("--upload-rounds", type=int, default=3, help="upload rounds of each, taken in turn")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024

    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-s3-", dir="/var/tmp"))
    try:
        source = workdir / "file.bin"
        sha = make_file(source, size)
        with run_minio_server() as minio:
            client = minio.client()
            client.make_bucket(BUCKET_ANCHOR)

            minio_pid = minio.process.pid  # type: ignore[union-attr]
            gateway, port = start_gateway(minio, workdir, args.chunk_cache_mib * 1024 * 1024)
            try:
                # The uploads take turns too (direct, gateway, direct, ...), best of each: on a shared
                # machine, and with the disk's write-back behind each, whichever ran second paid more.
                direct_uploads: list[tuple[float, dict[str, float]]] = []
                our_uploads: list[tuple[float, dict[str, float]]] = []
                with sampling(gateway.pid) as upload_rss:
                    for turn in range(args.upload_rounds):
                        cpu_before = cpu_seconds(minio_pid), cpu_seconds(os.getpid())
                        started = time.perf_counter()
                        client.fput_object(BUCKET_ANCHOR, "file.bin", str(source), num_parallel_uploads=3)
                        direct_uploads.append(
                            (
                                size / (time.perf_counter() - started),
                                {
                                    "minio": (cpu_seconds(minio_pid) - cpu_before[0]) * 1024**3 / size,
                                    "client": (cpu_seconds(os.getpid()) - cpu_before[1]) * 1024**3 / size,
                                },
                            )
                        )
                        if turn:  # new bytes for each of our rounds: the same ones would be found stored
                            sha = renew_head(source)
                        cpu_before = cpu_seconds(minio_pid), cpu_seconds(gateway.pid)
                        seconds, record = sendfile_upload(port, "/api/upload?name=file.bin", source)
                        assert record["sha256"] == sha, record
                        our_uploads.append(
                            (
                                size / seconds,
                                {
                                    "minio": (cpu_seconds(minio_pid) - cpu_before[0]) * 1024**3 / size,
                                    "gateway": (cpu_seconds(gateway.pid) - cpu_before[1]) * 1024**3 / size,
                                },
                            )
                        )
                direct_put, direct_put_cpu = max(direct_uploads, key=lambda r: r[0])
                ours_put, ours_put_cpu = max(our_uploads, key=lambda r: r[0])
                upload_pairs = [o[0] / d[0] for o, d in zip(our_uploads, direct_uploads, strict=True)]
                url = client.presigned_get_object(
                    BUCKET_ANCHOR, "file.bin", expires=datetime.timedelta(hours=1)
                )
                # A second gateway on the same bucket answers downloads with a presigned redirect.
                redirecting, redirect_port = start_gateway(
                    minio, workdir, args.chunk_cache_mib * 1024 * 1024, redirect=True
                )
                # The downloads take turns, so a change in the machine's load meets them alike.
                direct, ours, redirected = Download(), Download(), Download()
                try:
                    with sampling(gateway.pid) as download_rss:
                        for _ in range(args.rounds):
                            direct.round(url, size, {"minio": minio_pid})
                            ours.round(
                                f"http://127.0.0.1:{port}/api/download/{sha}",
                                size,
                                {"minio": minio_pid, "gateway": gateway.pid},
                            )
                            redirected.round(
                                f"http://127.0.0.1:{redirect_port}/api/download/{sha}",
                                size,
                                {"minio": minio_pid, "gateway": redirecting.pid},
                            )
                finally:
                    stop(redirecting)
                check = subprocess.run(
                    f"curl -sS --fail http://127.0.0.1:{port}/api/download/{sha} | sha256sum",
                    shell=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=True,
                ).stdout.split()[0]
                assert check == sha, "downloaded bytes differ"
            finally:
                stop(gateway)

        direct_get, ours_get = direct.speed, ours.speed
        load_after = os.getloadavg()
        figures = {
            "size_mib": args.size_mib,
            "upload_gateway_gbps": ours_put / 1e9,
            "upload_direct_multipart_gbps": direct_put / 1e9,
            "upload_ratio": ours_put / direct_put,
            "upload_ratio_median_of_pairs": statistics.median(upload_pairs),
            "upload_gateway_rounds_gbps": [r[0] / 1e9 for r in our_uploads],
            "upload_direct_rounds_gbps": [r[0] / 1e9 for r in direct_uploads],
            "download_gateway_gbps": ours_get / 1e9,
            "download_direct_get_gbps": direct_get / 1e9,
            "download_ratio": ours_get / direct_get,
            "download_ratio_median_of_pairs": statistics.median(
                o / d for o, d in zip(ours.speeds, direct.speeds, strict=True)
            ),
            "peak_rss_mb": max(upload_rss.peak, download_rss.peak) / 1e6,
            "peak_rss_upload_mb": upload_rss.peak / 1e6,
            "peak_rss_download_mb": download_rss.peak / 1e6,
            "download_gateway_rounds_gbps": [v / 1e9 for v in ours.speeds],
            "download_direct_rounds_gbps": [v / 1e9 for v in direct.speeds],
            "upload_cpu_s_per_gib_direct": direct_put_cpu,
            "upload_cpu_s_per_gib_gateway": ours_put_cpu,
            "download_cpu_s_per_gib_direct": direct.cpu,
            "download_cpu_s_per_gib_gateway": ours.cpu,
            "download_redirected_gbps": redirected.speed / 1e9,
            "download_redirected_ratio": redirected.speed / direct_get,
            "download_redirected_rounds_gbps": [v / 1e9 for v in redirected.speeds],
            "download_cpu_s_per_gib_redirected": redirected.cpu,
            "chunk_cache_mib": args.chunk_cache_mib,
            "load_average_before": load_before,
            "load_average_after": load_after,
        }
        print(
            f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in load_before)} at the start, "
            f"{' '.join(f'{v:.2f}' for v in load_after)} at the end, on {os.cpu_count()} cores"
        )
        print(
            f"upload   {args.size_mib} MiB: gateway (S3 mode) {ours_put / 1e9:5.2f} GB/s vs direct multipart PUT "
            f"{direct_put / 1e9:5.2f} GB/s = {figures['upload_ratio']:.2f}x, best of {args.upload_rounds} each (target "
            f">= 0.6x); rounds in turn {' '.join(f'{r[0] / 1e9:.2f}' for r in our_uploads)} vs "
            f"{' '.join(f'{r[0] / 1e9:.2f}' for r in direct_uploads)}, median ratio of the pairs "
            f"{figures['upload_ratio_median_of_pairs']:.2f}x"
        )
        print(
            f"upload CPU per GiB (best rounds): direct PUT: MinIO {direct_put_cpu['minio']:.2f} s + SDK client "
            f"{direct_put_cpu['client']:.2f} s; through the gateway: MinIO {ours_put_cpu['minio']:.2f} s + gateway "
            f"{ours_put_cpu['gateway']:.2f} s"
        )
        print(
            f"download {args.size_mib} MiB: gateway (S3 mode) {ours_get / 1e9:5.2f} GB/s vs direct S3 GET "
            f"{direct_get / 1e9:5.2f} GB/s = {figures['download_ratio']:.2f}x, best of {args.rounds} each (target "
            f">= 0.8x); rounds in turn {' '.join(f'{v / 1e9:.2f}' for v in ours.speeds)} vs "
            f"{' '.join(f'{v / 1e9:.2f}' for v in direct.speeds)}, median ratio of the pairs "
            f"{figures['download_ratio_median_of_pairs']:.2f}x"
        )
        print(
            f"download CPU per GiB (best rounds): direct GET: MinIO {direct.cpu['minio']:.2f} s; through the "
            f"gateway: MinIO {ours.cpu['minio']:.2f} s + gateway {ours.cpu['gateway']:.2f} s"
        )
        print(
            f"download {args.size_mib} MiB with storage.s3.redirect_downloads (a 307 to a presigned GET, "
            f"followed by curl): {redirected.speed / 1e9:5.2f} GB/s vs direct "
            f"{direct_get / 1e9:5.2f} GB/s = {figures['download_redirected_ratio']:.2f}x, best of {args.rounds}; "
            f"rounds {' '.join(f'{v / 1e9:.2f}' for v in redirected.speeds)}; CPU per GiB: MinIO "
            f"{redirected.cpu['minio']:.2f} s + gateway {redirected.cpu['gateway']:.3f} s"
        )
        print(
            f"peak RSS of the gateway: {figures['peak_rss_mb']:.0f} MB (upload {upload_rss.peak / 1e6:.0f} MB, "
            f"download {download_rss.peak / 1e6:.0f} MB with a {args.chunk_cache_mib} MiB chunk cache; target < 200 MB)"
        )
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "s3.json").write_text(json.dumps(figures, indent=2) + "\n")
        ok = (
            figures["upload_ratio"] >= 0.6
            and figures["download_ratio"] >= 0.8
            and figures["peak_rss_mb"] < 200
        )
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
