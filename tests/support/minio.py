"""A real MinIO server for tests: found in (or built into) the per-machine cache, run on 127.0.0.1.

The binary comes from ``tests/support/build_minio.sh`` (``make minio``), which builds the pinned
version once into ``~/.cache/torrent-gateway/minio-<version>/bin/minio``. When a test run finds it
missing, the fixture runs the same script instead of skipping: the test command installs what it needs.

Each server gets free ports and its own data directory; ``stop``/``kill``/``start`` keep both, so a
fault test can take MinIO away mid-operation and bring the same server back with its objects.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .servers import free_port

BUILD_SCRIPT = Path(__file__).with_name("build_minio.sh")
ROOT_USER = "tgw-test-admin"
ROOT_PASSWORD = "tgw-test-secret-0123456789"  # MinIO demands at least 8 characters


def minio_binary() -> Path:
    """The cached MinIO binary; builds it (once per machine, minutes) when the cache lacks it."""
    explicit = os.environ.get("TGW_MINIO_BINARY")
    if explicit:
        return Path(explicit)
    result = subprocess.run(["sh", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building MinIO failed (run `make minio` to see why):\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class MinioServer:
    binary: Path
    data_dir: Path
    port: int
    console_port: int
    access_key: str = ROOT_USER
    secret_key: str = ROOT_PASSWORD
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """host:port, the form the S3 settings and the SDK take."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) on the same ports and data directory; returns once MinIO is ready."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            # Nothing of a test run leaves the machine.
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
            "MINIO_BROWSER": "off",
        }
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "server",
                    str(self.data_dir),
                    "--address",
                    self.endpoint,
                    "--console-address",
                    f"127.0.0.1:{self.console_port}",
                    "--quiet",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"minio exited with {self.process.returncode}; log: {self.log_path}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/minio/health/ready", timeout=1) as response,
            ):
                if response.status == 200 and self._answers_s3():
                    return
            time.sleep(0.1)
        raise TimeoutError(f"minio on {self.endpoint} not ready after {timeout}s; log: {self.log_path}")

    def _answers_s3(self) -> bool:
        # MinIO reports ready before its IAM subsystem is up and answers S3 calls with 503
        # (XMinioServerNotInitialized) for a moment longer: ready means a signed call succeeds.
        import urllib3
        from minio.error import MinioException

        try:
            self.client().list_buckets()
        except (MinioException, OSError, urllib3.exceptions.HTTPError):
            return False
        return True

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as a rolling restart does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        """Abrupt death (SIGKILL), as a crashed or OOM-killed pod."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def client(self):  # type: ignore[no-untyped-def]
        """A plain MinIO SDK client with the root credentials, for checks behind the store's back."""
        from minio import Minio

        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)


@contextlib.contextmanager
def run_minio_server(binary: Path | None = None) -> Iterator[MinioServer]:
    workdir = Path(tempfile.mkdtemp(prefix="tgw-minio-"))
    server = MinioServer(
        binary=binary or minio_binary(),
        data_dir=workdir / "data",
        port=free_port(),
        console_port=free_port(),
        log_path=workdir / "minio.log",
    )
    server.data_dir.mkdir()
    try:
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    """One MinIO for the session; tests keep apart by using a bucket each."""
    with run_minio_server() as server:
        yield server
