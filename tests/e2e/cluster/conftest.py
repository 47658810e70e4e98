"""A cluster on one machine: every component as its own OS process, as the operator's pods run them,
sharing one real MinIO and one real Redis on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import minio
from tests.support.minio import MinioServer
from tests.support.servers import RedisServer, free_port

minio_server = minio.minio_server  # the session's MinIO, a fixture of this package

START_TIMEOUT = 60.0


@dataclass
class Component:
    """One ``torrent-gateway <component>`` process on 127.0.0.1."""

    kind: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Component:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "torrent_gateway.cli", self.kind],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.kind} exited ({self.process.returncode}):\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.kind} on {self.port} not ready:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: a crashed or evicted pod, no shutdown handlers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class Cluster:
    gateways: list[Component]
    blossom: Component
    trackers: list[Component]
    dht: Component
    minio: MinioServer
    bucket: str

    def all(self) -> list[Component]:
        return [*self.gateways, self.blossom, *self.trackers, self.dht]


def shared_env(minio: MinioServer, redis: RedisServer, bucket: str, workdir: Path) -> dict[str, str]:
    """What every pod of one TorrentGateway shares: the store, the state, the tracker secret."""
    config = workdir / "config.yaml"
    config.write_text("{}\n")
    return {
        **os.environ,
        "TGW_CONFIG": str(config),
        "TGW_STORAGE__BACKEND": "s3",
        "TGW_STORAGE__BLOB_THRESHOLD": "1000000",
        "TGW_STORAGE__S3__ENDPOINT": minio.endpoint,
        "TGW_STORAGE__S3__BUCKET": bucket,
        "TGW_STORAGE__S3__ACCESS_KEY": minio.access_key,
        "TGW_STORAGE__S3__SECRET_KEY": minio.secret_key,
        "TGW_STATE__BACKEND": "redis",
        "TGW_STATE__REDIS_URL": f"redis://127.0.0.1:{redis.port}/11",
        "TGW_TRACKER__SECRET": "shared-tracker-secret-for-the-test",
        "TGW_TRACKER__UDP": "false",
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_NOSTR__RELAYS": "[]",
        "TGW_DHT__BOOTSTRAP_NODES": "[]",
        "TGW_RATE_LIMITING__ENABLED": "false",
        # The test lists B's recent files to see A's uploads; the list is admin-only by default.
        "TGW_GATEWAY__PUBLIC_FILE_LIST": "true",
        "TGW_LOGGING__LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def cluster(
    minio_server: MinioServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    bucket = f"tgw-cluster-{uuid.uuid4().hex[:12]}"
    base = shared_env(minio_server, redis_server, bucket, workdir)

    def component(kind: str, index: int, **settings: str) -> Component:
        port = free_port()
        name = f"{kind}-{index}"
        cache = workdir / name / "cache"
        cache.mkdir(parents=True)
        prefix = {"gateway": "GATEWAY", "blossom": "BLOSSOM", "tracker": "TRACKER", "dht": "DHT"}[kind]
        env = {
            **base,
            "TGW_STORAGE__S3__CACHE_DIR": str(cache),
            f"TGW_{prefix}__HOST": "127.0.0.1",
            f"TGW_{prefix}__{'HTTP_PORT' if kind == 'dht' else 'PORT'}": str(port),
            **settings,
        }
        return Component(kind, port, env, workdir / f"{name}.log")

    gateways = [component("gateway", i) for i in range(2)]
    for gateway in gateways:
        gateway.env["TGW_GATEWAY__PUBLIC_URL"] = gateway.url
    trackers = [component("tracker", i) for i in range(2)]
    blossom = component("blossom", 0)
    dht = component("dht", 0, TGW_DHT__PORT=str(free_port()), TGW_DHT__PEER_PORT=str(free_port()))
    cluster = Cluster(gateways, blossom, trackers, dht, minio_server, bucket)
    try:
        for part in cluster.all():
            part.start()
        for part in cluster.all():
            part.wait_ready()
        yield cluster
    finally:
        for part in cluster.all():
            part.stop()
