"""The transcoder against real ffmpeg, the filesystem store and the state stores (memory with an
injected clock, and a real redis-server shared by two "replicas"): one job per file under
concurrent requests, chunked sources, progressive publishing, timeouts that may be retried,
failures that remove what was published, and deletion in the middle of a job."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from torrent_gateway.hls.playlists import parse_media_playlist
from torrent_gateway.hls.transcoder import Transcoder
from torrent_gateway.manifest import Manifest
from torrent_gateway.services import Services, build_services
from torrent_gateway.state.memory import MemoryStateStore
from torrent_gateway.storage.filesystem import FilesystemStore

from tests.integration.hls.media import make_clip
from tests.support.gateway import gateway_settings
from tests.support.minio import MinioServer
from tests.support.servers import RedisServer

REDIS_DB = 12
HLS = {"renditions": [240], "segment_seconds": 2}


class Clock:
    """Monotonic time that a test may move forward (TTLs of the memory state store)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", gop=50)


def make_services(data: Path, state: Any = None, **sections: dict[str, Any]) -> Services:
    sections.setdefault("hls", HLS)
    settings = gateway_settings(data, **sections)
    return build_services(settings, state=state)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def services(tmp_path: Path, clock: Clock) -> AsyncIterator[Services]:
    # Chunked storage: the source is reassembled into a temp file for ffmpeg.
    built = make_services(
        tmp_path / "data",
        state=MemoryStateStore(clock=clock),
        storage={"blob_threshold": 32 * 1024, "chunk_size": 16 * 1024},
    )
    yield built
    await built.close()


async def ingest(services: Services, path: Path, mime: str = "video/mp4") -> Manifest:
    data = await asyncio.to_thread(path.read_bytes)
    session = services.ingestor.begin(path.name, mime, len(data))
    await session.feed(data)
    manifest, _ = await session.finish(None)
    return manifest


async def wait_for(transcoder: Transcoder, sha: str, states: set[str], within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status = await transcoder.status(sha)
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.05)


async def hls_keys(services: Services, sha: str) -> list[str]:
    return [key.split("/", 2)[2] async for key in services.store.list(f"hls/{sha}/")]


def staging_jobs(services: Services) -> list[Path]:
    return [p for p in services.store.staging_dir().iterdir() if p.name.startswith("hls-")]


async def test_concurrent_requests_start_one_job_from_a_chunked_source(
    services: Services, clip: Path
) -> None:
    manifest = await ingest(services, clip)
    assert manifest.kind == "chunked" and len(manifest.chunks) > 1
    transcoder = Transcoder(services)
    other_replica = Transcoder(services)  # same state store: the lock is shared
    answers = await asyncio.gather(
        *(transcoder.ensure(manifest) for _ in range(10)),
        *(other_replica.ensure(manifest) for _ in range(10)),
    )
    assert transcoder.jobs_started == 1 and other_replica.jobs_started == 0
    assert {a["state"] for a in answers} <= {"pending", "running"}
    ready = await wait_for(transcoder, manifest.sha256, {"ready", "failed"})
    assert ready["state"] == "ready", ready
    assert [(r["name"], r["video"], r["audio"]) for r in ready["renditions"]] == [("240p", "copy", "copy")]
    assert (await other_replica.ensure(manifest))["state"] == "ready"
    assert transcoder.jobs_started == 1 and other_replica.jobs_started == 0
    assert staging_jobs(services) == []  # the reassembled source and ffmpeg's folder are gone
    assert await services.state.get(f"hls:lock:{manifest.sha256}") is None


async def test_every_published_playlist_names_only_published_segments(
    services: Services, tmp_path: Path
) -> None:
    """Progressive publishing, observed from the store while ffmpeg works."""
    # MPEG-4 Part 2 is re-encoded (not copied), so the job lasts long enough to be watched.
    clip = make_clip(tmp_path / "long.mp4", seconds=30, width=320, height=240, video_codec="mpeg4")
    manifest = await ingest(services, clip)
    transcoder = Transcoder(services, poll_interval=0.05)
    await transcoder.ensure(manifest)
    sha = manifest.sha256
    checks = 0
    deadline = time.monotonic() + 60
    while (await transcoder.status(sha))["state"] not in ("ready", "failed"):
        assert time.monotonic() < deadline
        keys = set(await hls_keys(services, sha))
        for key in [k for k in keys if k.endswith("index.m3u8")]:
            text = (await services.store.get_bytes(f"hls/{sha}/{key}")).decode()
            folder = key.rsplit("/", 1)[0]
            for segment in parse_media_playlist(text).segments:
                assert await services.store.exists(f"hls/{sha}/{folder}/{segment.uri}")
            checks += 1
        if "playlist.m3u8" in keys:
            assert (await transcoder.status(sha)).get("playable") is True
        await asyncio.sleep(0.01)
    assert (await transcoder.status(sha))["state"] == "ready"
    assert checks >= 1


async def test_a_queued_job_keeps_its_lock(services: Services, clip: Path, tmp_path: Path) -> None:
    """Jobs wait for a slot (one at a time here) without losing their lock to its TTL."""
    slow = make_clip(tmp_path / "slow.mp4", seconds=60, width=320, height=240, video_codec="mpeg4")
    first, second = await ingest(services, slow), await ingest(services, clip)
    # The heartbeat renews every third of the TTL; a second leaves room for a loop slowed by ffmpeg
    # on a busy machine (with 0.3 s, one CI run saw the lock lapse between two beats).
    ttl = 1.0
    transcoder = Transcoder(services, lock_ttl=ttl, max_jobs=1)
    await transcoder.ensure(first)
    assert (await transcoder.ensure(second))["state"] == "pending"
    waited_from = time.monotonic()
    waited = 0.0
    while time.monotonic() - waited_from < 60:
        # The lock first: a job seen pending after its lock was read as gone had lost it.
        lock = await services.state.get(f"hls:lock:{second.sha256}")
        if (await transcoder.status(second.sha256))["state"] != "pending":
            break
        assert lock is not None, f"the lock lapsed after {time.monotonic() - waited_from:.1f} s"
        waited = time.monotonic() - waited_from
        await asyncio.sleep(0.05)
    assert waited > 2 * ttl, "the first job ended too soon to outlast the lock's TTL"
    assert transcoder.jobs_started == 2
    for manifest in (first, second):
        assert (await wait_for(transcoder, manifest.sha256, {"ready", "failed"}))["state"] == "ready"
    assert transcoder.jobs_started == 2


async def test_timeout_is_recorded_as_transient_and_retried_later(
    services: Services, clip: Path, clock: Clock
) -> None:
    manifest = await ingest(services, clip)
    sha = manifest.sha256
    hasty = Transcoder(services, job_timeout=0.01, poll_interval=0.01, retry_after_failure=120)
    await hasty.ensure(manifest)
    failed = await wait_for(hasty, sha, {"failed", "ready"})
    assert failed["state"] == "failed" and failed["permanent"] is False
    assert "did not finish within" in failed["error"]
    assert await hls_keys(services, sha) == []  # nothing half-made is left
    # While the failure is fresh, asking again does not start another job...
    assert (await hasty.ensure(manifest))["state"] == "failed" and hasty.jobs_started == 1
    # ...once it has expired, the next request tries again and succeeds.
    clock.offset += 121
    patient = Transcoder(services)
    assert (await patient.ensure(manifest))["state"] in ("pending", "running")
    assert (await wait_for(patient, sha, {"ready", "failed"}))["state"] == "ready"


async def test_crashed_worker_lock_expires_and_the_job_is_retried(
    services: Services, clip: Path, clock: Clock
) -> None:
    manifest = await ingest(services, clip)
    sha = manifest.sha256
    # A worker that died: it holds the lock and left a "running" record, then nothing.
    await services.state.set(f"hls:lock:{sha}", b"dead", 60, only_new=True)
    await services.state.set(f"hls:job:{sha}", b'{"sha256": "%s", "state": "running"}' % sha.encode(), 60)
    transcoder = Transcoder(services)
    assert (await transcoder.ensure(manifest))["state"] == "running"
    assert transcoder.jobs_started == 0
    clock.offset += 61
    assert (await transcoder.ensure(manifest))["state"] in ("pending", "running")
    assert transcoder.jobs_started == 1
    assert (await wait_for(transcoder, sha, {"ready", "failed"}))["state"] == "ready"


async def test_deleting_the_file_mid_job_leaves_nothing(services: Services, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=30, width=320, height=240, video_codec="mpeg4")
    manifest = await ingest(services, clip)
    transcoder = Transcoder(services, poll_interval=0.05)
    services.catalog.on_removed.append(transcoder.on_removed)
    await transcoder.ensure(manifest)
    await wait_for(transcoder, manifest.sha256, {"running"})
    await services.catalog.delete_file(manifest.sha256)
    await services.catalog.drain_hooks()
    assert not transcoder._jobs
    assert await hls_keys(services, manifest.sha256) == []
    assert staging_jobs(services) == []
    assert (await transcoder.status(manifest.sha256))["state"] == "none"


def write_fake_ffmpeg(folder: Path) -> Path:
    """An "ffmpeg" that publishes one segment, then crashes (its ffprobe is the real one)."""
    folder.mkdir()
    script = folder / "ffmpeg"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys, time\n"
        "playlist = pathlib.Path(sys.argv[-1])\n"
        "segment = pathlib.Path(sys.argv[sys.argv.index('-hls_segment_filename') + 1] % 0)\n"
        "segment.write_bytes(b'\\x47' + bytes(187))\n"
        "playlist.write_text('#EXTM3U\\n#EXT-X-TARGETDURATION:2\\n#EXT-X-PLAYLIST-TYPE:EVENT\\n'\n"
        "                    '#EXTINF:2.0,\\n' + segment.name + '\\n')\n"
        "time.sleep(1.5)\n"
        "sys.stderr.write('Error while encoding: simulated encoder crash\\n')\n"
        "sys.exit(1)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    os.symlink("/usr/bin/ffprobe", folder / "ffprobe")
    return script


async def test_a_crash_after_publishing_removes_the_stream(tmp_path: Path, clip: Path) -> None:
    fake = write_fake_ffmpeg(tmp_path / "bin")
    services = make_services(tmp_path / "data", hls={**HLS, "ffmpeg": str(fake)})
    try:
        manifest = await ingest(services, clip)
        sha = manifest.sha256
        transcoder = Transcoder(services, poll_interval=0.05)
        await transcoder.ensure(manifest)
        # While "ffmpeg" runs, its first segment is published and the stream is playable.
        playable = await wait_for(transcoder, sha, {"running"})
        deadline = time.monotonic() + 10
        while not playable.get("playable"):
            assert time.monotonic() < deadline, playable
            await asyncio.sleep(0.05)
            playable = await transcoder.status(sha)
        assert set(await hls_keys(services, sha)) == {"playlist.m3u8", "240p/index.m3u8", "240p/seg_00000.ts"}
        failed = await wait_for(transcoder, sha, {"failed", "ready"})
        assert failed["state"] == "failed" and failed["permanent"] is True
        assert "simulated encoder crash" in failed["error"] and "exit code 1" in failed["error"]
        assert await hls_keys(services, sha) == ["state.json"]
    finally:
        await services.close()


async def test_missing_ffmpeg_is_a_transient_failure(tmp_path: Path, clip: Path) -> None:
    services = make_services(tmp_path / "data", hls={**HLS, "ffmpeg": str(tmp_path / "nowhere" / "ffmpeg")})
    try:
        transcoder = Transcoder(services)
        with pytest.raises(RuntimeError, match="not found"):
            await transcoder.ping()
        manifest = await ingest(services, clip)
        await transcoder.ensure(manifest)
        failed = await wait_for(transcoder, manifest.sha256, {"failed", "ready"})
        assert failed["state"] == "failed" and failed["permanent"] is False
        assert "cannot run" in failed["error"] or "cannot read" in failed["error"]
    finally:
        await services.close()


async def test_replicas_on_redis_share_one_job(tmp_path: Path, clip: Path, redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis
    from torrent_gateway.state.redis import RedisStateStore

    url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    replicas: list[Services] = []
    try:
        for _ in range(2):
            state = RedisStateStore.from_url(url)
            replicas.append(
                make_services(tmp_path / "data", state=state, storage={"path": str(tmp_path / "data")})
            )
        flusher = aioredis.from_url(url)
        await flusher.flushdb()
        await flusher.aclose()
        manifest = await ingest(replicas[0], clip)
        transcoders = [Transcoder(r) for r in replicas]
        await asyncio.gather(*(t.ensure(manifest) for t in transcoders for _ in range(5)))
        assert sum(t.jobs_started for t in transcoders) == 1
        for transcoder in transcoders:
            assert (await wait_for(transcoder, manifest.sha256, {"ready", "failed"}))["state"] == "ready"
        assert isinstance(replicas[1].store, FilesystemStore)
    finally:
        for replica in replicas:
            await replica.close()


async def test_stream_lives_in_s3_and_another_replica_sees_it(
    tmp_path: Path, clip: Path, s3_server: MinioServer
) -> None:
    """On S3 the source is fetched into a temp file for ffmpeg, and the stream lands in the bucket."""
    s3: dict[str, Any] = {
        "backend": "s3",
        "s3": {
            "endpoint": s3_server.endpoint,
            "bucket": "hls-test",
            "access_key": s3_server.access_key,
            "secret_key": s3_server.secret_key,
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    first = make_services(tmp_path / "a", storage=s3)
    second = make_services(
        tmp_path / "b", storage={**s3, "s3": {**s3["s3"], "cache_dir": str(tmp_path / "cache-b")}}
    )
    try:
        manifest = await ingest(first, clip)
        assert first.store.local_path(f"blobs/{manifest.sha256}") is None
        transcoder = Transcoder(first)
        await transcoder.ensure(manifest)
        assert (await wait_for(transcoder, manifest.sha256, {"ready", "failed"}))["state"] == "ready"
        keys = set(await hls_keys(second, manifest.sha256))
        assert {"playlist.m3u8", "state.json", "240p/index.m3u8", "240p/seg_00000.ts"} <= keys
        replica = Transcoder(second)  # its own memory state: everything it needs is in the bucket
        assert (await replica.ensure(manifest))["state"] == "ready" and replica.jobs_started == 0
        assert staging_jobs(first) == []
    finally:
        await first.close()
        await second.close()
