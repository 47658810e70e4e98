"""Helpers shared by the benchmark scripts in bench/ — the one copy of each.

This module owns the plumbing every benchmark needs and none measures: loopback ports (finding a
free one, waiting until one accepts connections), stopping subprocesses, the anchor servers
(nginx on a generated config, a private redis-server), test files of N incompressible bytes,
sampling a process's peak RSS, and the two client-side measurements shared by several benchmarks
(best single-stream curl download, wrk range requests). The benchmarks themselves, their
workloads and their figures stay in the ``bench_*.py`` scripts.

The scripts run as ``python bench/<script>.py`` (directly or from ``bench/run_all.py``), so
``bench/`` is first on ``sys.path`` and they import this module as ``common``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BLOCK = 8 * 1024 * 1024


# -- ports ------------------------------------------------------------------------------------------


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now (TCP unless ``kind`` says otherwise)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP (for servers that listen on both)."""
    for _ in range(100):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def wait_port(port: int, timeout: float = 20.0) -> None:
    """Return once 127.0.0.1:``port`` accepts TCP connections; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


# -- processes --------------------------------------------------------------------------------------


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0, *, graceful: bool = True) -> None:
    """Stop ``process``: SIGTERM and up to ``timeout`` s to exit, then SIGKILL (straight away
    unless ``graceful``), and reap it."""
    if graceful:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait(timeout=timeout)


def start_nginx(root: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground serving ``root`` on 127.0.0.1:``port``, with its config, pid file,
    logs and temp dirs under ``workdir`` (which must be readable by nginx's workers)."""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""
    )
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir)], stderr=subprocess.DEVNULL)
    wait_port(port)
    return process


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """A private, non-persistent redis-server on 127.0.0.1: yields (URL of db 0, pid)."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--protected-mode",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, timeout=30.0)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        stop(process, graceful=False)


# -- test data and measurements ---------------------------------------------------------------------


def make_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes that never repeat (every file differs); return their SHA-256.

    Every block is fresh from the kernel's CSPRNG: data that repeats (a seed block written again
    and again) would let the gateway's chunk deduplication skip most of the writes and flatter
    the ingest figures.
    """
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        written = 0
        while written < size:
            block = os.urandom(min(BLOCK, size - written))
            handle.write(block)
            digest.update(block)
            written += len(block)
    return digest.hexdigest()


class RssSampler(threading.Thread):
    """Samples VmRSS of ``pid`` every 50 ms until ``stop`` is set; ``peak`` is the highest, in bytes."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) * 1024  # type: ignore[union-attr]
                self.peak = max(self.peak, rss)
            except (OSError, AttributeError):
                pass
            time.sleep(0.05)


def sendfile_upload(port: int, target: str, path: Path, timeout: float = 900) -> tuple[float, dict]:  # type: ignore[type-arg]
    """PUT a file to 127.0.0.1:``port`` with sendfile(2); return (seconds, the JSON reply).

    The leanest client there is: the kernel moves the file's pages to the socket and the client
    spends almost no CPU. On a 2-core machine a copying client (curl -T reads and writes every
    byte through user space: about 0.7 core-seconds per GiB here) takes a share of the CPU that
    a remote client would not, and that the hashing anchor, which has no client, never pays.
    """
    size = path.stat().st_size
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.putrequest("PUT", target)
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        assert connection.sock is not None
        with path.open("rb") as handle:
            connection.sock.sendfile(handle)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    if response.status not in (200, 201):
        raise RuntimeError(f"upload failed: {response.status} {body[:200]!r}")
    return elapsed, json.loads(body)


def curl_best_download(url: str, rounds: int, timeout: float) -> float:
    """Best of ``rounds`` single-stream downloads, bytes/s."""
    speeds = []
    for _ in range(rounds):
        out = subprocess.run(
            ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{speed_download}", url],
            capture_output=True,
            timeout=timeout,
            check=True,
        ).stdout
        speeds.append(float(out))
    return max(speeds)


WRK_RANGES = """
local size = {size}
local span = {span}
math.randomseed({seed})
request = function()
  local start = math.random(0, math.floor((size - span) / span)) * span
  return wrk.format("GET", "{path}", {{["Range"] = "bytes=" .. start .. "-" .. (start + span - 1)}})
end
"""


def wrk_ranges(
    base: str, path: str, size: int, workdir: Path, *, span: int, seed: int, seconds: int
) -> float:
    """Bytes/s of random aligned ``span``-byte range requests over 2 keep-alive connections."""
    script = workdir / "ranges.lua"
    script.write_text(WRK_RANGES.format(size=size, span=span, seed=seed, path=path))
    out = subprocess.run(
        ["wrk", "-t1", "-c2", f"-d{seconds}s", "-s", str(script), base + path],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    match = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    assert match, out
    value, unit = float(match.group(1)), match.group(2)
    return value * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[unit]
