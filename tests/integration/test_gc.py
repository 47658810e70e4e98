"""Garbage collection removes what no manifest needs — and never what one does, even mid-upload."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from torrent_gateway.config import load_settings
from torrent_gateway.gc import collect_garbage
from torrent_gateway.services import Services, build_services

from tests.support.verify import verify_filesystem_store

CHUNK = 64 * 1024


def make_services(root: Path, **gc: object) -> Services:
    settings = load_settings(
        None,
        storage={"path": str(root), "blob_threshold": 300_000, "chunk_size": CHUNK},
        gc={"grace_period": 0, **gc},
        nostr={"relays": [], "publish": False},
    )
    return build_services(settings)


async def upload(services: Services, data: bytes, name: str = "f.bin") -> str:
    session = services.ingestor.begin(name, None, len(data))
    try:
        for start in range(0, len(data), 50_000):
            await session.feed(data[start : start + 50_000])
        manifest, _ = await session.finish()
        return manifest.sha256
    finally:
        await session.abort()


async def test_gc_removes_orphans_and_keeps_live_bytes(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    try:
        keep_small = await upload(services, os.urandom(10_000))
        keep_big = await upload(services, os.urandom(CHUNK * 6 + 5))
        doomed = await upload(services, os.urandom(CHUNK * 5))
        doomed_manifest = await services.catalog.get(doomed)
        assert doomed_manifest is not None
        # Remove the manifest behind the catalog's back, as a crash between writes would leave it.
        await services.store.delete(f"manifests/{doomed}.json")
        stray = os.urandom(1000)
        await services.store.put_bytes(f"blobs/{hashlib.sha256(stray).hexdigest()}", stray)

        report = await collect_garbage(services)
        assert report.blobs_removed == len(doomed_manifest.chunks) + 1
        assert report.torrents_removed == 1
        assert verify_filesystem_store(tmp_path)["files"] == 2
        assert await services.catalog.get(keep_small) and await services.catalog.get(keep_big)
        again = await collect_garbage(services)
        assert again.blobs_removed == 0
    finally:
        await services.close()


async def test_young_orphans_survive_the_grace_period(tmp_path: Path) -> None:
    services = make_services(tmp_path, grace_period=3600)
    try:
        stray = os.urandom(1000)
        await services.store.put_bytes(f"blobs/{hashlib.sha256(stray).hexdigest()}", stray)
        report = await collect_garbage(services)
        assert report.blobs_removed == 0 and report.kept_young == 1
    finally:
        await services.close()


async def test_upload_while_gc_runs_loses_nothing(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    stop = asyncio.Event()

    async def gc_loop() -> int:
        passes = 0
        while not stop.is_set() and passes < 500:
            await collect_garbage(services)
            passes += 1
            await asyncio.sleep(0)
        return passes

    try:
        shared = os.urandom(CHUNK * 4)  # uploads below share chunks with each other
        collector = asyncio.create_task(gc_loop())
        shas = []
        for index in range(12):
            data = shared + os.urandom(CHUNK * (index % 3 + 1)) if index % 2 else os.urandom(20_000 + index)
            shas.append(await upload(services, data, f"f{index}"))
        stop.set()
        passes = await collector
        assert passes > 0
        await collect_garbage(services)
        result = verify_filesystem_store(tmp_path)
        assert result["files"] == 12
        for sha in shas:
            assert await services.catalog.get(sha) is not None
    finally:
        stop.set()
        await services.close()


async def test_retention_expires_old_files(tmp_path: Path) -> None:
    services = make_services(tmp_path, retention_days=1)
    try:
        sha = await upload(services, os.urandom(5000))
        import time

        report = await collect_garbage(services, now=time.time() + 2 * 86400)
        assert report.files_expired == 1
        assert await services.catalog.get(sha) is None
        assert verify_filesystem_store(tmp_path)["files"] == 0
    finally:
        await services.close()
