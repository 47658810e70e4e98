"""HLS jobs: one ffmpeg run per video file, its segments published to the object store as they appear.

A job probes the source (ffprobe), plans the renditions (:mod:`.plan`), runs ffmpeg as an asyncio
subprocess (never blocking the loop) with a deadline, and publishes under ``hls/<sha256>/`` while
ffmpeg works: each new segment is uploaded before the playlist that names it, so a published
playlist never points at a missing segment. Once every rendition has a segment the master
playlist is written and the stream is *playable* (an EVENT stream that grows); when ffmpeg
finishes the playlists become VOD, the master gets measured bandwidths, and ``state.json`` is
written last: from then on the stream is *ready*. Alongside the renditions, the job makes the poster
(``poster.jpg``, one frame; see :func:`.plan.poster_arguments`): a poster that cannot be made is
recorded (``"poster": false``) but never fails the stream.

State, so that any replica answers the same thing:

* object store ``hls/<sha256>/state.json`` — the outcome: ``ready``, or ``failed`` when the content
  itself cannot be streamed (ffmpeg/ffprobe refused it, no video stream). Deleted with the file.
* state store ``hls:job:<sha256>`` — ``pending``/``running`` with progress, expiring with the lock
  (a crashed worker's job is retried once it expires); also transient failures (timeout, store
  outage), which expire after ``retry_after_failure`` seconds so the job can be tried again.
* state store ``hls:lock:<sha256>`` — one job per file across every replica (``only_new`` + TTL,
  refreshed by a heartbeat while the job runs).

A failed job removes whatever it published: clients see an error state, never a broken playlist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

from ..manifest import Manifest, blob_key, hls_prefix
from ..storage import ObjectNotFound
from .plan import (
    NotVideo,
    Plan,
    Rendition,
    ffmpeg_arguments,
    plan_renditions,
    poster_arguments,
    poster_time,
)
from .playlists import (
    MASTER_NAME,
    MEDIA_NAME,
    POSTER_NAME,
    SEGMENT_RE,
    STATE_NAME,
    PlaylistError,
    Variant,
    as_vod,
    master_playlist,
    measured_bandwidth,
    parse_media_playlist,
)
from .probe import ProbeError, clean_error, ffprobe_for, run_ffprobe

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

JOBS = Counter("tgw_hls_jobs_total", "HLS transcoding jobs by outcome", ["outcome"])
JOB_SECONDS = Histogram(
    "tgw_hls_job_seconds",
    "Time from job start to a ready stream",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
FIRST_SEGMENT_SECONDS = Histogram(
    "tgw_hls_first_playable_seconds",
    "Time from job start until the stream is playable",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300),
)

STDERR_TAIL_BYTES = 64 * 1024
READY_CACHE_SIZE = 4096
# Seconds a client refused for a full job queue is told to wait before asking again.
JOB_RETRY_AFTER = 30
# A JPEG of the largest rendition (at most 4K) is a few hundred KB; anything far beyond is not a poster.
MAX_POSTER_BYTES = 16 * 1024 * 1024


def state_key(sha256: str) -> str:
    return f"{hls_prefix(sha256)}{STATE_NAME}"


def output_key(sha256: str, path: str) -> str:
    return f"{hls_prefix(sha256)}{path}"


def job_key(sha256: str) -> str:
    return f"hls:job:{sha256}"


def lock_key(sha256: str) -> str:
    return f"hls:lock:{sha256}"


def is_video(manifest: Manifest) -> bool:
    return manifest.mime_type.lower().startswith("video/")


class JobFailed(Exception):
    """A job that cannot finish. ``permanent``: the content is at fault (recorded for good);
    otherwise the failure is recorded for a while and the job may be tried again later."""

    def __init__(self, message: str, *, code: int = 500, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent


class JobsBusy(Exception):
    """Too many jobs running or waiting in this process: a new one is refused, not queued."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many videos are being prepared; retry later")
        self.retry_after = retry_after


class Transcoder:
    """Starts, tracks and reports HLS jobs; installed by :func:`~torrent_gateway.hls.app.install_hls`."""

    def __init__(
        self,
        services: Services,
        *,
        job_timeout: float | None = None,
        probe_timeout: float = 60.0,
        lock_ttl: float = 60.0,
        poll_interval: float = 0.2,
        max_jobs: int | None = None,
        retry_after_failure: float = 300.0,
    ) -> None:
        hls = services.settings.hls
        self.services = services
        self.ffmpeg = hls.ffmpeg
        # Optional keys: read with defaults so the settings tree may grow them when needed.
        self.ffprobe = str(getattr(hls, "ffprobe", "") or ffprobe_for(hls.ffmpeg))
        self.preset = str(getattr(hls, "preset", "veryfast"))
        configured_timeout: float = getattr(hls, "job_timeout", 3600.0)
        self.job_timeout = float(job_timeout if job_timeout is not None else configured_timeout)
        self.probe_timeout = probe_timeout
        self.lock_ttl = lock_ttl
        self.poll_interval = poll_interval
        self.retry_after_failure = retry_after_failure
        configured_jobs: int = getattr(hls, "max_concurrent_jobs", 1)
        self.max_jobs = int(max_jobs if max_jobs is not None else configured_jobs)
        self._slots = asyncio.Semaphore(self.max_jobs)
        # Running plus waiting jobs: the queue behind the slots is bounded too, so a flood of
        # distinct videos cannot pile up jobs (each holding a lock, a heartbeat and a temp folder).
        self.max_queued = max(int(getattr(hls, "max_queued_jobs", 8)), self.max_jobs)
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._ready: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.jobs_started = 0

    # -- status ---------------------------------------------------------------------------------
    async def status(self, sha256: str) -> dict[str, Any]:
        """``{"state": none|pending|running|ready|failed, ...}`` of the file's stream."""
        cached = self._ready.get(sha256)
        if cached is not None:
            return cached
        stored = await self._stored_state(sha256)
        if stored is not None:
            return stored
        raw = await self.services.state.get(job_key(sha256))
        if raw is not None:
            with contextlib.suppress(ValueError):
                record = json.loads(raw)
                if isinstance(record, dict):
                    return record
        return {"sha256": sha256, "state": "none", "playable": False}

    async def _stored_state(self, sha256: str) -> dict[str, Any] | None:
        try:
            raw = await self.services.store.get_bytes(state_key(sha256))
        except ObjectNotFound:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if record.get("state") == "ready":
            self._remember_ready(sha256, record)
        return record

    def _remember_ready(self, sha256: str, record: dict[str, Any]) -> None:
        self._ready[sha256] = record
        self._ready.move_to_end(sha256)
        while len(self._ready) > READY_CACHE_SIZE:
            self._ready.popitem(last=False)

    def forget(self, sha256: str) -> None:
        """Drop what this process remembers of the stream (its files were removed)."""
        self._ready.pop(sha256, None)

    # -- starting -------------------------------------------------------------------------------
    async def ensure(self, manifest: Manifest) -> dict[str, Any]:
        """The stream's status, starting its job first if it was never started (or may be retried)."""
        current = await self.status(manifest.sha256)
        if current["state"] != "none":
            return current
        return await self.start(manifest)

    async def start(self, manifest: Manifest) -> dict[str, Any]:
        sha = manifest.sha256
        if sha in self._jobs:
            return await self._status_or_pending(sha)
        if len(self._jobs) >= self.max_queued:
            JOBS.labels("refused").inc()
            raise JobsBusy(retry_after=JOB_RETRY_AFTER)
        token = secrets.token_hex(8)
        if not await self.services.state.set(lock_key(sha), token.encode(), self.lock_ttl, only_new=True):
            return await self._status_or_pending(sha)
        if sha in self._jobs:  # started by a concurrent call of ours while we awaited the lock
            await self._release(sha, token)
            return await self._status_or_pending(sha)
        # The job that held the lock may have finished between our status read and our lock.
        stored = await self._stored_state(sha)
        if stored is not None:
            await self._release(sha, token)
            return stored
        record = self._new_record(manifest)
        await self._write_job(record)
        self.jobs_started += 1
        task = self.services.spawn(self._run(manifest, token, record), name=f"hls-{sha[:16]}")
        self._jobs[sha] = task
        task.add_done_callback(self._job_done)
        log.info("HLS job for %s (%s) started", sha, manifest.name)
        return dict(record)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        for sha, job in list(self._jobs.items()):
            if job is task:
                del self._jobs[sha]

    async def _status_or_pending(self, sha256: str) -> dict[str, Any]:
        current = await self.status(sha256)
        if current["state"] == "none":  # the lock holder has not written its record yet
            return {"sha256": sha256, "state": "pending", "playable": False}
        return current

    def _new_record(self, manifest: Manifest) -> dict[str, Any]:
        return {
            "sha256": manifest.sha256,
            "state": "pending",
            "playable": False,
            "progress": 0.0,
            "started": time.time(),
            "renditions": [],
        }

    async def _write_job(self, record: dict[str, Any], ttl: float | None = None) -> None:
        await self.services.state.set(
            job_key(record["sha256"]), json.dumps(record).encode(), ttl or self.lock_ttl
        )

    async def _release(self, sha256: str, token: str) -> None:
        held = await self.services.state.get(lock_key(sha256))
        if held == token.encode():
            await self.services.state.delete(lock_key(sha256))

    # -- hooks and lifecycle --------------------------------------------------------------------
    async def on_added(self, manifest: Manifest) -> None:
        """Catalog hook: new videos are transcoded in the background, before anyone asks."""
        if self.services.settings.hls.enabled and is_video(manifest):
            try:
                await self.ensure(manifest)
            except JobsBusy:
                log.info(
                    "HLS job for %s not started now (queue full): its first request starts it",
                    manifest.sha256,
                )

    async def on_removed(self, manifest: Manifest) -> None:
        """Catalog hook: a deleted file's job stops (its outputs are removed with the file)."""
        self.forget(manifest.sha256)
        task = self._jobs.get(manifest.sha256)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 15)

    async def close(self) -> None:
        tasks = list(self._jobs.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=15)

    async def ping(self) -> None:
        """Health probe: the configured ffmpeg and ffprobe are installed."""
        for tool in (self.ffmpeg, self.ffprobe):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found")

    # -- the job --------------------------------------------------------------------------------
    async def _run(self, manifest: Manifest, token: str, record: dict[str, Any]) -> None:
        sha = manifest.sha256
        began = time.monotonic()
        workdir: Path | None = None
        folders: list[Path] = []
        keep_job_record = False
        # Owned by this job from the start: a job waiting for a slot keeps its lock too.
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(sha, record, folders))
        try:
            async with self._slots:
                record["state"] = "running"
                record["running_since"] = time.time()
                await self._write_job(record)
                workdir = Path(
                    await asyncio.to_thread(
                        tempfile.mkdtemp, prefix="hls-", dir=self.services.store.staging_dir()
                    )
                )
                folders.append(workdir)
                await self._clear_outputs(sha)
                source = await self._source_path(manifest, workdir)
                try:
                    info = await run_ffprobe(
                        self.ffprobe, source, time_limit=self.probe_timeout, name=manifest.name
                    )
                except ProbeError as exc:
                    if exc.transient:
                        raise JobFailed(f"cannot probe the file: {exc}", permanent=False) from None
                    raise JobFailed(f"cannot read this file as a video: {exc}") from None
                try:
                    plan = plan_renditions(
                        info,
                        self.services.settings.hls.renditions,
                        self.services.settings.hls.segment_seconds,
                    )
                except NotVideo as exc:
                    raise JobFailed(str(exc), code=415) from None
                record["renditions"] = [r.describe() for r in plan.renditions]
                record["duration"] = plan.duration
                await self._write_job(record)
                # Alongside the transcode, not before it: seeking and decoding up to the poster's
                # frame takes a good part of a second, which must not delay the first segment.
                poster = asyncio.get_running_loop().create_task(
                    self._publish_poster(manifest, plan, source, workdir, record)
                )
                try:
                    result = await self._transcode(manifest, plan, source, workdir, record, began)
                    await poster
                finally:
                    await _stop(poster)
            if await self.services.catalog.get(sha) is None:
                # Deleted while we worked: leave nothing behind.
                await self._clear_outputs(sha)
                JOBS.labels("cancelled").inc()
                return
            elapsed = time.monotonic() - began
            final = {
                "sha256": sha,
                "state": "ready",
                "playable": True,
                "progress": 1.0,
                "duration": plan.duration,
                "segment_seconds": plan.segment_seconds,
                "renditions": result,
                "poster": record["poster"],
                "started": record["started"],
                "finished": time.time(),
                "elapsed": round(elapsed, 3),
            }
            await self.services.store.put_bytes(state_key(sha), json.dumps(final, indent=1).encode())
            self._remember_ready(sha, final)
            JOBS.labels("ready").inc()
            JOB_SECONDS.observe(elapsed)
            log.info(
                "HLS stream of %s ready in %.1f s (%s)", sha, elapsed, ", ".join(r["name"] for r in result)
            )
        except asyncio.CancelledError:
            JOBS.labels("cancelled").inc()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._clear_outputs(sha)), 10)
            raise
        except Exception as exc:
            # The heartbeat must not overwrite the failure record with the running one.
            await _stop(heartbeat)
            if await self._file_gone(sha):
                # Deleted under our feet (its bytes vanished before the removal hook stopped us).
                JOBS.labels("cancelled").inc()
                await self._clear_outputs(sha)
                return
            if isinstance(exc, JobFailed):
                failure = exc
            else:
                log.exception("HLS job for %s failed", sha)
                failure = JobFailed(
                    f"internal error while transcoding ({type(exc).__name__}); retried later", permanent=False
                )
            keep_job_record = not failure.permanent
            await self._record_failure(sha, record, failure)
        finally:
            await _stop(heartbeat)
            if workdir is not None:
                await asyncio.to_thread(shutil.rmtree, workdir, True)
            with contextlib.suppress(Exception):
                if not keep_job_record:
                    await self.services.state.delete(job_key(sha))
                await self._release(sha, token)

    async def _file_gone(self, sha256: str) -> bool:
        try:
            return await self.services.catalog.get(sha256) is None
        except Exception:
            return False

    async def _record_failure(self, sha256: str, record: dict[str, Any], failure: JobFailed) -> None:
        JOBS.labels("failed").inc()
        log.warning("HLS job for %s failed: %s", sha256, failure.message)
        failed = {
            "sha256": sha256,
            "state": "failed",
            "playable": False,
            "error": failure.message,
            "code": failure.code,
            "permanent": failure.permanent,
            "started": record.get("started"),
            "finished": time.time(),
        }
        try:
            await self._clear_outputs(sha256)
            if failure.permanent:
                await self.services.store.put_bytes(state_key(sha256), json.dumps(failed, indent=1).encode())
            else:
                failed["retry_at"] = time.time() + self.retry_after_failure
                await self._write_job(failed, ttl=self.retry_after_failure)
        except Exception:
            log.exception("could not record the failure of the HLS job for %s", sha256)

    async def _heartbeat(self, sha256: str, record: dict[str, Any], folders: list[Path]) -> None:
        """Keep the lock and the job record alive while the job waits and runs; keep its temp folder
        young, so the garbage collector's sweep of old staging entries leaves it alone."""
        interval = max(self.lock_ttl / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self.services.state.expire(lock_key(sha256), self.lock_ttl)
                await self._write_job(record)
                for folder in folders:
                    await asyncio.to_thread(os.utime, folder)

    async def _clear_outputs(self, sha256: str) -> None:
        keys = [key async for key in self.services.store.list(hls_prefix(sha256))]
        for key in keys:
            await self.services.store.delete(key)
        self.forget(sha256)

    async def _source_path(self, manifest: Manifest, workdir: Path) -> Path:
        """A seekable local file with the source bytes (MP4s may keep their index at the end)."""
        if manifest.kind == "blob":
            local = self.services.store.local_path(blob_key(manifest.sha256))
            if local is not None:
                return local
        target = workdir / "source"
        handle = await asyncio.to_thread(open, target, "wb")
        try:
            if manifest.size:
                async for block in self.services.reader.iter_range(manifest, 0, manifest.size - 1):
                    await asyncio.to_thread(handle.write, block)
        finally:
            await asyncio.to_thread(handle.close)
        return target

    async def _publish_poster(
        self, manifest: Manifest, plan: Plan, source: Path, workdir: Path, record: dict[str, Any]
    ) -> None:
        record["poster"] = await self._make_poster(manifest, plan, source, workdir)
        await self._write_job(record)

    async def _make_poster(self, manifest: Manifest, plan: Plan, source: Path, workdir: Path) -> bool:
        """Make and publish ``poster.jpg``; False (logged) when ffmpeg cannot. A frame past the end of
        a file whose duration was misreported yields nothing, so the first frame is tried next."""
        target = workdir / POSTER_NAME
        error = ""
        for at in dict.fromkeys((poster_time(plan.duration), 0.0)):
            args = poster_arguments(plan, source, target, at=at)
            try:
                error = await _run_tool(self.ffmpeg, args, self.probe_timeout)
            except OSError as exc:
                error = f"cannot run {self.ffmpeg}: {exc.strerror or exc}"
                break
            size = await asyncio.to_thread(_size_of, target)
            if not error and 0 < size <= MAX_POSTER_BYTES:
                await self.services.store.put_file(output_key(manifest.sha256, POSTER_NAME), target)
                return True
            error = error or f"ffmpeg wrote {size} bytes for the frame at {at:g} s"
        message = clean_error(error.replace(f"{workdir}{os.sep}", ""), source, manifest.name)
        log.warning("no poster for %s: %s", manifest.sha256, message)
        return False

    async def _transcode(
        self,
        manifest: Manifest,
        plan: Plan,
        source: Path,
        workdir: Path,
        record: dict[str, Any],
        began: float,
    ) -> list[dict[str, Any]]:
        for rendition in plan.renditions:
            await asyncio.to_thread((workdir / rendition.name).mkdir)
        args = ffmpeg_arguments(plan, source, workdir, preset=self.preset)
        try:
            process = await asyncio.create_subprocess_exec(
                self.ffmpeg,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise JobFailed(f"cannot run {self.ffmpeg}: {exc.strerror or exc}", permanent=False) from None
        assert process.stdout is not None and process.stderr is not None
        publisher = _Publisher(self, manifest.sha256, plan, workdir, record, began)
        loop = asyncio.get_running_loop()
        stderr_task = loop.create_task(_read_tail(process.stderr, STDERR_TAIL_BYTES))
        progress_task = loop.create_task(_follow_progress(process.stdout, record, plan.duration))
        exited = loop.create_task(process.wait())
        deadline = loop.time() + self.job_timeout
        try:
            while True:
                done, _ = await asyncio.wait({exited}, timeout=self.poll_interval)
                if done:
                    break
                if loop.time() > deadline:
                    raise JobFailed(f"ffmpeg did not finish within {self.job_timeout:g} s", permanent=False)
                await publisher.sync(final=False)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await asyncio.shield(exited)
            progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await progress_task
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(stderr_task, 5)
        if process.returncode != 0:
            stderr = stderr_task.result() if stderr_task.done() and not stderr_task.cancelled() else b""
            text = stderr.decode("utf-8", "replace").replace(f"{workdir}{os.sep}", "")
            message = clean_error(text, source, manifest.name)
            raise JobFailed(f"ffmpeg failed (exit code {process.returncode}): {message or 'no error output'}")
        await publisher.sync(final=True)
        return await publisher.write_master(final=True)


class _Publisher:
    """Uploads what ffmpeg has finished: segments first, then the playlist naming them."""

    def __init__(
        self,
        transcoder: Transcoder,
        sha256: str,
        plan: Plan,
        workdir: Path,
        record: dict[str, Any],
        began: float,
    ) -> None:
        self.transcoder = transcoder
        self.store = transcoder.services.store
        self.sha256 = sha256
        self.plan = plan
        self.workdir = workdir
        self.record = record
        self.began = began
        self.uploaded: dict[str, list[tuple[str, int, float]]] = {r.name: [] for r in plan.renditions}
        self.published: dict[str, str] = {}
        self.master_written = False

    async def sync(self, *, final: bool) -> None:
        for rendition in self.plan.renditions:
            await self._sync_rendition(rendition, final)
        if not final and not self.master_written and all(self.uploaded.values()):
            await self.write_master(final=False)
            self.record["playable"] = True
            await self.transcoder._write_job(self.record)
            FIRST_SEGMENT_SECONDS.observe(time.monotonic() - self.began)

    async def _sync_rendition(self, rendition: Rendition, final: bool) -> None:
        folder = self.workdir / rendition.name
        text = await asyncio.to_thread(_read_text, folder / MEDIA_NAME)
        if text is None:
            if final:
                raise JobFailed(f"ffmpeg wrote no playlist for {rendition.name}")
            return
        try:
            playlist = parse_media_playlist(text)
        except PlaylistError as exc:
            raise JobFailed(f"ffmpeg wrote an unreadable playlist for {rendition.name}: {exc}") from None
        if final and (not playlist.ended or not playlist.segments):
            raise JobFailed(f"ffmpeg stopped before finishing the {rendition.name} playlist")
        done = {uri for uri, _, _ in self.uploaded[rendition.name]}
        for segment in playlist.segments:
            if segment.uri in done:
                continue
            if not SEGMENT_RE.match(segment.uri):
                raise JobFailed(
                    f"unexpected segment name {segment.uri[:40]!r} in the {rendition.name} playlist"
                )
            local = folder / segment.uri
            size = (await asyncio.to_thread(local.stat)).st_size
            await self.store.put_file(output_key(self.sha256, f"{rendition.name}/{segment.uri}"), local)
            self.uploaded[rendition.name].append((segment.uri, size, segment.duration))
        body = as_vod(text) if final else text
        if self.published.get(rendition.name) != body:
            await self.store.put_bytes(
                output_key(self.sha256, f"{rendition.name}/{MEDIA_NAME}"), body.encode()
            )
            self.published[rendition.name] = body

    async def write_master(self, *, final: bool) -> list[dict[str, Any]]:
        variants: list[Variant] = []
        described: list[dict[str, Any]] = []
        for rendition in self.plan.renditions:
            segments = self.uploaded[rendition.name]
            if final:
                peak, average = measured_bandwidth([(size, duration) for _, size, duration in segments])
            else:
                peak, average = rendition.estimated_bandwidth, 0
            variants.append(
                Variant(
                    uri=f"{rendition.name}/{MEDIA_NAME}",
                    bandwidth=peak,
                    average_bandwidth=average or None,
                    width=rendition.width,
                    height=rendition.height,
                    codecs=rendition.codecs,
                    frame_rate=rendition.frame_rate,
                )
            )
            described.append(
                {
                    **rendition.describe(),
                    "bandwidth": peak,
                    "average_bandwidth": average or None,
                    "segments": len(segments),
                    "playlist": f"{rendition.name}/{MEDIA_NAME}",
                }
            )
        await self.store.put_bytes(output_key(self.sha256, MASTER_NAME), master_playlist(variants).encode())
        self.master_written = True
        return described


async def _stop(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def _run_tool(program: str, args: list[str], time_limit: float) -> str:
    """Run a short ffmpeg command; its error output ("" on success). A run past ``time_limit`` is
    killed and reported as an error; OSError when the program cannot be started."""
    process = await asyncio.create_subprocess_exec(
        program,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        stderr = await asyncio.wait_for(_read_tail(process.stderr, STDERR_TAIL_BYTES), time_limit)
        await asyncio.wait_for(process.wait(), time_limit)
    except TimeoutError:
        return f"ffmpeg did not finish within {time_limit:g} s"
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        return stderr.decode("utf-8", "replace") or f"exit code {process.returncode}"
    return ""


def _read_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(4 * 1024 * 1024 + 1)
    except FileNotFoundError:
        return None
    return data.decode("utf-8", "replace")


async def _read_tail(stream: asyncio.StreamReader, limit: int) -> bytes:
    """All of a pipe, keeping only its last ``limit`` bytes (ffmpeg's errors are at the end)."""
    tail = bytearray()
    while block := await stream.read(65536):
        tail += block
        if len(tail) > limit:
            del tail[: len(tail) - limit]
    return bytes(tail)


async def _follow_progress(
    stream: asyncio.StreamReader, record: dict[str, Any], duration: float | None
) -> None:
    """ffmpeg's ``-progress`` lines → ``record["progress"]`` (0..1), shown by the status route."""
    while line := await stream.readline():
        key, _, value = line.decode("ascii", "replace").strip().partition("=")
        if key == "out_time_us" and duration and value.isdigit():
            record["progress"] = round(min(int(value) / 1e6 / duration, 1.0), 3)
