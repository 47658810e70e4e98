"""The gateway under test: the real ``torrent-gateway serve`` process, bound to the lab's bridge
address (gateway, tracker over HTTP and UDP, WebSeed, DHT node and seeder), with a private DHT."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port(address: str, kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP and UDP on ``address`` (the tracker and the seeder use both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((address, 0))
            port = int(probe.getsockname()[1])
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, port))
            return port
    raise RuntimeError("no free port")


@dataclass
class Gateway:
    url: str
    address: str
    dht_port: int
    peer_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def upload(self, name: str, data: bytes, timeout: float = 60) -> dict[str, Any]:
        response = httpx.put(f"{self.url}/api/upload", params={"name": name}, content=data, timeout=timeout)
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def diagnostics(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/api/diagnostics", timeout=10).json()  # type: ignore[no-any-return]

    def seeding(self, infohash: str) -> bool:
        files = self.diagnostics()["p2p"]["seeder"]["files"]
        return any(f["infohash"] == infohash and f["state"] == "seeding" for f in files)


@contextlib.contextmanager
def serve(address: str, data_dir: Path, log_path: Path) -> Iterator[Gateway]:
    port, dht_port, peer_port = free_port(address), free_port(address), free_port(address)
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}/workloads/src:{REPO}/operator/src",
        "TGW_GATEWAY__HOST": address,
        "TGW_GATEWAY__PORT": str(port),
        "TGW_GATEWAY__PUBLIC_URL": f"http://{address}:{port}",
        "TGW_STORAGE__PATH": str(data_dir),
        "TGW_DHT__HOST": address,
        "TGW_DHT__PORT": str(dht_port),
        "TGW_DHT__PEER_PORT": str(peer_port),
        "TGW_DHT__BOOTSTRAP_NODES": "[]",
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_TRACKER__INTERVAL": "30",
        "TGW_TRACKER__MIN_INTERVAL": "5",
        # Clients open many connections and ranges at once; the limits are not under test here.
        "TGW_RATELIMIT__ENABLED": "false",
        "TGW_HLS__ENABLED": "false",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "torrent_gateway.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    gateway = Gateway(f"http://{address}:{port}", address, dht_port, peer_port, process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"gateway exited: {log_path.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{gateway.url}/readyz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"gateway not ready: {log_path.read_text()[-3000:]}"
            time.sleep(0.3)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
