"""`torrent-gateway serve` started on the original gateway's config.yaml, unchanged, where that
gateway kept it (``configs/config.yaml`` in the working directory).

Only what would collide on a shared test machine is moved by environment variables (ports, no
public DHT or relays); every other value comes from the seed file: the data directory, the
SQLite file named by ``database.path``, the Blossom port, sizes written as strings.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port

SEED_CONFIG = Path(__file__).parents[1] / "fixtures" / "seed" / "config.yaml"


def start(workdir: Path, port: int, blossom_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TGW_GATEWAY__HOST": "127.0.0.1",
        "TGW_GATEWAY__PORT": str(port),
        "TGW_BLOSSOM__SERVE_PORT": str(blossom_port),
        "TGW_DHT__ENABLED": "false",
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_TRACKER__UDP": "false",
    }
    env.pop("TGW_CONFIG", None)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "torrent_gateway.cli", "serve"], cwd=workdir, env=env, stderr=sink
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(log.read_text()[-3000:])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_serve_runs_on_the_seed_config_file_as_is(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    shutil.copyfile(SEED_CONFIG, tmp_path / "configs" / "config.yaml")
    port, blossom_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    process = start(tmp_path, port, blossom_port, log)
    try:
        base = f"http://127.0.0.1:{port}"
        data = os.urandom(20_000)
        sha = hashlib.sha256(data).hexdigest()
        uploaded = httpx.put(f"{base}/api/upload?name=seed.bin", content=data, timeout=30)
        assert uploaded.status_code == 201, uploaded.text

        # The seed's Blossom port answers Blossom (BUD-01 GET /<sha256>).
        blob = httpx.get(f"http://127.0.0.1:{blossom_port}/{sha}")
        assert blob.status_code == 200 and blob.content == data
        # rate_limiting.upload.max_file_size: "10MB" is in force.
        too_big = httpx.put(
            f"{base}/api/upload?name=big.bin", content=b"\0" * (10 * 1024 * 1024 + 1), timeout=60
        )
        assert too_big.status_code == 413
    finally:
        stop(process)

    # gateway.storage_path and database.path, relative to where the seed ran.
    assert (tmp_path / "data" / "manifests" / f"{sha}.json").is_file()
    assert (tmp_path / "data" / "metadata.db").is_file()
    assert not (tmp_path / "data" / "state.sqlite3").exists()

    lines = [line for line in log.read_text().splitlines() if "seed key" in line]
    assert len(lines) == 16, "\n".join(lines)
    assert any("database.path = './data/metadata.db' -> state.sqlite_path" in line for line in lines)

    # What the seed user had is still there after a restart (state in database.path).
    process = start(tmp_path, port, blossom_port, log)
    try:
        listed = httpx.get(f"http://127.0.0.1:{port}/api/files/{sha}")
        assert listed.status_code == 200 and listed.json()["sha256"] == sha
    finally:
        stop(process)
