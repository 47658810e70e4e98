"""HTTP side of HLS: the master playlist (which starts the job on first request), media playlists
and segments from the object store with Range support, and the job status.

* ``GET /api/stream/<sha256>/playlist.m3u8`` — 200 master playlist once playable; 202 + ``Retry-After``
  + JSON status while it is prepared; 415 for files that are not video; 422 (the content cannot be
  streamed: permanent) or 503 (retried later) with the ffmpeg error when the job failed. Starting a
  job is admitted: 429 + ``Retry-After`` past ``hls.job_starts_per_minute`` per client address, 503 +
  ``Retry-After`` while ``hls.max_queued_jobs`` jobs are running or waiting in this process.
* ``GET /api/stream/<sha256>/<height>p/index.m3u8`` and ``…/<height>p/seg_<n>.ts`` — served from
  ``hls/<sha256>/`` in the object store, so any replica answers.
* ``GET /api/stream/<sha256>/poster.jpg`` — one JPEG frame, made by the job before the renditions:
  202 + ``Retry-After`` while it is prepared (the first request starts the job, admitted as above),
  404 for files that are not video or when no frame could be taken.
* ``GET /api/stream/<sha256>/status`` — the job record (state, progress, renditions, error).

Playlists, segments and posters are made by ffmpeg from an uploader's bytes: like every user-bytes
response they carry ``nosniff`` and the sandbox CSP, so nothing in them can run on our origin.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..clientaddr import scope_client_address
from ..manifest import Manifest
from ..services import Services
from ..state import StateUnavailable
from ..storage import ObjectNotFound
from ..web.deps import ServicesDep, check_sha256, load_manifest
from ..web.ranges import RangeNotSatisfiable, parse_range
from ..web.responses import USER_BYTES_HEADERS
from .playlists import JPEG, MASTER_NAME, MPEGURL, POSTER_NAME, content_type_for, is_stream_path
from .transcoder import JobsBusy, Transcoder, is_video, output_key

READ_BLOCK = 1024 * 1024
RETRY_AFTER_SECONDS = 2
JOB_START_WINDOW = 60
CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Content-Length, Content-Range, Accept-Ranges, Retry-After",
}


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**CORS, **(headers or {})})


def _not_video(manifest_type: str) -> JSONResponse:
    return _json(
        {
            "detail": f"not a video ({manifest_type}): only video files have an HLS stream",
            "type": manifest_type,
        },
        415,
    )


def _bodyless(status: int, headers: dict[str, str], length: int) -> Response:
    """A HEAD answer that still says how long the body would be."""
    response = Response(status_code=status, headers=headers)
    response.raw_headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
    response.raw_headers.append((b"content-length", str(length).encode()))
    return response


def create_stream_router(transcoder: Transcoder) -> APIRouter:
    """``/api/stream/<sha256>/...``: the job status, the playlists, the segments and the poster."""
    router = APIRouter(tags=["stream"])

    @router.get("/api/stream/{sha256}/status")
    async def stream_status(sha256: str, request: Request, services: ServicesDep) -> JSONResponse:
        """State of the file's HLS stream: none, pending, running (with progress), ready or failed."""
        manifest = await load_manifest(sha256, services)
        playlist = str(request.url_for("stream_master", sha256=manifest.sha256))
        if not is_video(manifest):
            return _json(
                {
                    "sha256": manifest.sha256,
                    "state": "unsupported",
                    "playable": False,
                    "type": manifest.mime_type,
                },
                200,
            )
        try:
            status = await transcoder.status(manifest.sha256)
        except StateUnavailable:
            return _json({"detail": "state store unavailable; retry later"}, 503, {"retry-after": "5"})
        return _json({**status, "playlist": playlist}, 200)

    @router.get("/api/stream/{sha256}/playlist.m3u8", name="stream_master")
    @router.head("/api/stream/{sha256}/playlist.m3u8", include_in_schema=False)
    async def stream_master(sha256: str, request: Request, services: ServicesDep) -> Response:
        """The master playlist; the first request of a video starts its transcoding (202 meanwhile)."""
        manifest = await load_manifest(sha256, services)
        if not services.settings.hls.enabled:
            raise HTTPException(404, "HLS streaming is disabled on this gateway")
        if not is_video(manifest):
            return _not_video(manifest.mime_type)
        status = await _job_status(request, services, transcoder, manifest)
        if isinstance(status, Response):
            return status
        if status["state"] == "ready" or (status["state"] == "running" and status.get("playable")):
            try:
                body = await services.store.get_bytes(output_key(manifest.sha256, MASTER_NAME))
            except ObjectNotFound:
                # Our memory of a ready stream outlived its files (removed elsewhere): look again.
                transcoder.forget(manifest.sha256)
                try:
                    status = await transcoder.ensure(manifest)
                except JobsBusy as busy:
                    return _json({"detail": str(busy)}, 503, {"retry-after": str(busy.retry_after)})
            else:
                ready = status["state"] == "ready"
                headers = {
                    **CORS,
                    **USER_BYTES_HEADERS,
                    "cache-control": "public, max-age=60" if ready else "no-cache",
                    "x-hls-state": status["state"],
                }
                if request.method == "HEAD":
                    return _bodyless(200, {**headers, "content-type": MPEGURL}, len(body))
                return Response(body, media_type=MPEGURL, headers=headers)
        if status["state"] == "failed":
            return _failed(status)
        return _preparing(status)

    @router.get("/api/stream/{sha256}/poster.jpg", name="stream_poster")
    @router.head("/api/stream/{sha256}/poster.jpg", include_in_schema=False)
    async def stream_poster(sha256: str, request: Request, services: ServicesDep) -> Response:
        """One JPEG frame of the video, for a player to show before playback (202 while it is made)."""
        manifest = await load_manifest(sha256, services)
        if not services.settings.hls.enabled:
            raise HTTPException(404, "HLS streaming is disabled on this gateway")
        if not is_video(manifest):
            raise HTTPException(404, f"not a video ({manifest.mime_type}): only videos have a poster")
        status = await _job_status(request, services, transcoder, manifest)
        if isinstance(status, Response):
            return status
        if status["state"] == "failed":
            if status.get("code") == 415:
                raise HTTPException(404, f"no poster: {status.get('error') or 'not a video'}")
            return _failed(status)
        if status["state"] == "ready" or (status["state"] == "running" and "poster" in status):
            if not status.get("poster"):
                # ffmpeg found no frame to take, or the stream was made before posters were.
                raise HTTPException(404, "this video has no poster")
            try:
                body = await services.store.get_bytes(output_key(manifest.sha256, POSTER_NAME))
            except ObjectNotFound:
                transcoder.forget(manifest.sha256)
                return _preparing(status)
            headers = {
                **CORS,
                **USER_BYTES_HEADERS,
                "accept-ranges": "bytes",
                "content-type": JPEG,
                # The frame of a file never changes; it is only made again after a failed job.
                "cache-control": "public, max-age=3600",
            }
            return _ranged_bytes(body, request, headers)
        return _preparing(status)

    @router.get("/api/stream/{sha256}/{path:path}")
    @router.head("/api/stream/{sha256}/{path:path}", include_in_schema=False)
    async def stream_file(sha256: str, path: str, request: Request, services: ServicesDep) -> Response:
        """A media playlist or a segment of the stream; single byte ranges are honoured (206/416)."""
        sha = check_sha256(sha256)
        if not is_stream_path(path):
            raise HTTPException(404, "no such stream file")
        key = output_key(sha, path)
        info = await services.store.stat(key)
        if info is None:
            raise HTTPException(404, "no such stream file (is the stream ready? see its /status)")
        content_type = content_type_for(path)
        headers = {**CORS, **USER_BYTES_HEADERS, "accept-ranges": "bytes", "content-type": content_type}
        if path.endswith(".m3u8"):
            # Playlists are small; a finished one (ENDLIST) may be cached, a growing one not.
            body = await services.store.get_bytes(key)
            headers["cache-control"] = "public, max-age=300" if b"#EXT-X-ENDLIST" in body else "no-cache"
            return _ranged_bytes(body, request, headers)
        headers["cache-control"] = "public, max-age=86400"
        try:
            ranges = parse_range(request.headers.get("range"), info.size)
        except RangeNotSatisfiable as exc:
            return _json(
                {"detail": f"range not satisfiable: {exc}"}, 416, {"content-range": f"bytes */{info.size}"}
            )
        start, end, status = 0, info.size - 1, 200
        if ranges is not None and len(ranges) == 1:
            start, end, status = ranges[0].start, ranges[0].end, 206
            headers["content-range"] = f"bytes {start}-{end}/{info.size}"
        length = end - start + 1
        if request.method == "HEAD":
            return _bodyless(status, headers, length)
        headers["content-length"] = str(length)

        async def body_stream() -> AsyncIterator[bytes]:
            position = start
            while position <= end:
                block = await services.store.read_range(key, position, min(READ_BLOCK, end - position + 1))
                if not block:
                    raise OSError(f"{key} ended early at {position}")
                position += len(block)
                yield block

        return StreamingResponse(body_stream(), status_code=status, headers=headers, media_type=content_type)

    return router


async def _job_status(
    request: Request, services: Services, transcoder: Transcoder, manifest: Manifest
) -> dict[str, Any] | Response:
    """The stream's job record, starting the job when it was never started (admitted per client
    address and by the queue bound); a Response when the answer is a refusal or an outage."""
    try:
        status = await transcoder.status(manifest.sha256)
        if status["state"] == "none":
            refused = await _refuse_job_start(request, services)
            if refused is not None:
                return refused
            status = await transcoder.ensure(manifest)
    except StateUnavailable:
        return _json({"detail": "state store unavailable; retry later"}, 503, {"retry-after": "5"})
    except JobsBusy as busy:
        return _json({"detail": str(busy)}, 503, {"retry-after": str(busy.retry_after)})
    return status


def _failed(status: dict[str, Any]) -> JSONResponse:
    error = status.get("error") or "unknown error"
    if status.get("code") == 415:
        return _json({"detail": error, **status}, 415)
    if status.get("permanent", True):
        # The uploaded bytes are at fault, not the server: a client error, never a 5xx.
        return _json({"detail": f"this video cannot be streamed: {error}", **status}, 422)
    return _json(
        {"detail": f"transcoding failed, will be retried: {error}", **status},
        503,
        {"retry-after": str(max(1, int(float(status.get("retry_at") or 0) - time.time())))},
    )


def _preparing(status: dict[str, Any]) -> JSONResponse:
    return _json(
        {**status, "detail": "the stream is being prepared: retry after the delay"},
        202,
        {"retry-after": str(RETRY_AFTER_SECONDS)},
    )


async def _refuse_job_start(request: Request, services: Services) -> JSONResponse | None:
    """429 when this client address already started ``hls.job_starts_per_minute`` jobs in the
    current minute (counted in the state store, so it holds across replicas); else None."""
    gateway = services.settings.gateway
    address = scope_client_address(request.scope, gateway.trusted_proxies, gateway.forwarded_header)
    window = int(time.time() // JOB_START_WINDOW)
    started = await services.state.incr(f"hls:starts:{address}:{window}", ttl=2 * JOB_START_WINDOW)
    if started <= services.settings.hls.job_starts_per_minute:
        return None
    wait = max(1, int((window + 1) * JOB_START_WINDOW - time.time()))
    return _json(
        {"detail": "too many streams started from your address; retry after the delay"},
        429,
        {"retry-after": str(wait)},
    )


def _ranged_bytes(body: bytes, request: Request, headers: dict[str, str]) -> Response:
    try:
        ranges = parse_range(request.headers.get("range"), len(body))
    except RangeNotSatisfiable as exc:
        return _json(
            {"detail": f"range not satisfiable: {exc}"}, 416, {"content-range": f"bytes */{len(body)}"}
        )
    status = 200
    if ranges is not None and len(ranges) == 1:
        only = ranges[0]
        headers["content-range"] = f"bytes {only.start}-{only.end}/{len(body)}"
        body = body[only.start : only.end + 1]
        status = 206
    if request.method == "HEAD":
        return _bodyless(status, headers, len(body))
    return Response(body, status_code=status, headers=headers, media_type=headers["content-type"])
