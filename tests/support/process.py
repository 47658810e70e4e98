"""Our server as a real OS process (``python -m torrent_gateway.cli serve``), for crash and fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .servers import free_port


class GatewayProcess:
    def __init__(self, data: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data = data
        self.port = port or free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> GatewayProcess:
        env = {
            **os.environ,
            "TGW_STORAGE__PATH": str(self.data),
            "TGW_GATEWAY__HOST": "127.0.0.1",
            "TGW_GATEWAY__PORT": str(self.port),
            "TGW_GATEWAY__PUBLIC_URL": self.url,
            # The tests look uploads up in the recent list, which is admin-only by default.
            "TGW_GATEWAY__PUBLIC_FILE_LIST": "true",
            "TGW_NOSTR__PUBLISH": "false",
            "TGW_NOSTR__RELAYS": "[]",
            "TGW_DHT__ENABLED": "false",
            "TGW_DHT__BOOTSTRAP_NODES": "[]",
            "TGW_TRACKER__UDP": "false",
            "TGW_RATE_LIMITING__ENABLED": "false",
            "TGW_LOGGING__LEVEL": "WARNING",
            **self.extra_env,
        }
        self.process = subprocess.Popen([sys.executable, "-m", "torrent_gateway.cli", "serve"], env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("gateway did not start")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no shutdown handlers — a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
