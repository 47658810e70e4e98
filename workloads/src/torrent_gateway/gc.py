"""Garbage collection: remove bytes no manifest needs, and files past their retention age.

What a pass removes, once older than ``gc.grace_period``: blobs and whole-file objects (``data/``)
referenced by no manifest (chunks and objects of aborted or crashed uploads, bytes of deleted
files), torrents and HLS output of files that no longer exist, and the parts of whole-file uploads
whose writer died (from their records in the state store). The manifests are the source of truth,
not the state indexes. An upload in flight is protected three ways: its chunks are young (grace
period), it is registered in the ingestor's in-flight set (same process), and manifests that appear
while the pass runs are re-read before anything is deleted. A pass never removes bytes that a live
manifest references.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

from .ingest.pipeline import UPLOAD_REGISTRY
from .manifest import BLOB_PREFIX, DATA_PREFIX, Manifest, manifest_key
from .services import Services

log = logging.getLogger(__name__)


@dataclass
class GCReport:
    blobs_removed: int = 0
    torrents_removed: int = 0
    hls_removed: int = 0
    files_expired: int = 0
    uploads_abandoned: int = 0
    bytes_freed: int = 0
    kept_young: int = 0
    removed_keys: list[str] = field(default_factory=list)


async def _live_manifests(services: Services) -> dict[str, Manifest]:
    return {m.sha256: m for m in [m async for m in services.catalog.iter_manifests()]}


def _referenced_keys(manifests: dict[str, Manifest]) -> set[str]:
    referenced: set[str] = set()
    for manifest in manifests.values():
        referenced.update(manifest.object_keys())
    return referenced


async def collect_garbage(
    services: Services, *, now: float | None = None, grace: float | None = None
) -> GCReport:
    settings = services.settings.gc
    now = time.time() if now is None else now
    grace = settings.grace_period if grace is None else grace
    report = GCReport()
    store = services.store

    await store.cleanup_staging(older_than=max(grace, 1))
    if await services.state.zcard("idx:recent") == 0:
        # The state store came back empty (a Redis restart without persistence): rebuild the indexes.
        await services.catalog.reindex()
    manifests = await _live_manifests(services)
    if settings.retention_days > 0:
        cutoff = now - settings.retention_days * 86400
        for manifest in list(manifests.values()):
            if manifest.created < cutoff:
                await services.catalog.delete_file(manifest.sha256)
                manifests.pop(manifest.sha256)
                report.files_expired += 1

    # Chunk and file blobs are in flight under their digest, a whole-file object under its key.
    candidates: list[tuple[str, str, int]] = []
    for prefix in (BLOB_PREFIX, DATA_PREFIX):
        async for key in store.list(prefix):
            name = key.removeprefix(BLOB_PREFIX) if prefix == BLOB_PREFIX else key
            if name in services.ingestor.inflight_chunks:
                continue
            info = await store.stat(key)
            if info is None:
                continue
            if now - info.modified < grace:
                report.kept_young += 1
                continue
            candidates.append((key, name, info.size))

    # Snapshot what uploads are committing now, then re-read the manifests: a manifest written
    # after this read belongs to an upload that was already in flight at the snapshot.
    in_flight = set(services.ingestor.inflight_chunks)
    live_manifests = await _live_manifests(services)
    referenced = _referenced_keys(live_manifests)
    for key, name, size in candidates:
        if key in referenced or name in in_flight or name in services.ingestor.inflight_chunks:
            continue
        if await store.delete(key):
            report.blobs_removed += 1
            report.bytes_freed += size
            report.removed_keys.append(key)

    await _abandon_dead_uploads(services, report, now, grace)

    live = set(live_manifests) | in_flight

    async def orphaned(sha: str, key: str) -> bool:
        """True when ``key`` belongs to no file: checked again right before deleting, since a file
        may have been published after the manifests were read."""
        if sha in live or sha in services.ingestor.inflight_chunks:
            return False
        info = await store.stat(key)
        if info is None or now - info.modified < grace:
            return False
        return not await store.exists(manifest_key(sha))

    async for key in store.list("torrents/"):
        if await orphaned(key.removeprefix("torrents/").removesuffix(".torrent"), key):
            await store.delete(key)
            report.torrents_removed += 1
            report.removed_keys.append(key)
    async for key in store.list("hls/"):
        if await orphaned(key.split("/", 2)[1] if key.count("/") >= 2 else "", key):
            await store.delete(key)
            report.hls_removed += 1
    if report.blobs_removed or report.files_expired or report.uploads_abandoned:
        log.info(
            "gc: removed %d blobs (%d bytes), %d torrents, %d HLS objects; %d files expired; "
            "%d abandoned uploads aborted",
            report.blobs_removed,
            report.bytes_freed,
            report.torrents_removed,
            report.hls_removed,
            report.files_expired,
            report.uploads_abandoned,
        )
    return report


async def _abandon_dead_uploads(services: Services, report: GCReport, now: float, grace: float) -> None:
    """Abort the multipart uploads of whole-file objects whose writer stopped telling the registry it is
    alive more than ``grace`` ago (its process died): S3 would keep their parts forever."""
    state = services.state
    for name in await state.scan(UPLOAD_REGISTRY):
        key = name.removeprefix(UPLOAD_REGISTRY)
        raw = await state.get(name)
        if raw is None or key in services.ingestor.inflight_chunks:
            continue
        try:
            record = json.loads(raw)
            token, active = str(record["token"]), float(record["active"])
        except (ValueError, KeyError, TypeError):
            log.warning("gc: unreadable upload record %s dropped", name)
            await state.take(name)
            continue
        if now - active < grace:
            continue
        await services.store.abandon_upload(key, token)
        await state.take(name)
        report.uploads_abandoned += 1


async def run_periodically(services: Services) -> None:
    """The background pass of a gateway process (owned by ``services.spawn``)."""
    interval = services.settings.gc.interval
    while True:
        await asyncio.sleep(interval)
        try:
            await collect_garbage(services)
        except Exception:  # a failed pass is retried at the next interval
            log.exception("garbage collection pass failed")
