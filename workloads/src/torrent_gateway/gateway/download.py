"""Downloads and the WebSeed: GET/HEAD of a file's bytes with single and multiple ranges.

``/api/download/<sha256>`` is for people (Content-Disposition with the original name);
``/api/webseed/<sha256>[/<name>]`` is the BEP 19 WebSeed named in every torrent's
``url-list`` (CORS open for WebTorrent). Both reassemble chunked files on the fly, through
:class:`~torrent_gateway.web.responses.FileResponse` (which sets the user-bytes headers).

With ``storage.s3.redirect_downloads``, a download of a file that is one object in S3 is a 307 to
a presigned GET of that object instead: the object store sends the bytes (Range included) and the
gateway only decides who gets them. What S3 cannot answer as the gateway would stays here: HEAD,
conditional requests (the gateway's ETag is the file's SHA-256, S3's is not), several ranges, and
a range past the end. The WebSeed is never redirected: BitTorrent clients ask it for many short
ranges, each of which would pay a second round trip.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from ..ingest.naming import clean_media_type, is_passive_type
from ..manifest import Manifest
from ..services import Services
from ..storage import StoreUnavailable
from ..web.deps import ServicesDep, error_responses, load_manifest
from ..web.ranges import RangeNotSatisfiable, parse_range
from ..web.responses import FileResponse, count_download, user_bytes_disposition


async def _serve(sha256: str, request: Request, services: Services, *, webseed: bool) -> Response:
    try:
        manifest = await load_manifest(sha256, services)
    except StoreUnavailable:
        raise HTTPException(503, "object store unavailable", headers={"Retry-After": "5"}) from None
    # BitTorrent clients ignore Content-Disposition; a browser opening a WebSeed URL must not render.
    disposition = user_bytes_disposition(manifest, attachment=not webseed)
    if not webseed and disposition is not None:
        redirect = await _redirect_to_store(services, manifest, request, disposition)
        if redirect is not None:
            return redirect
    return FileResponse(services, manifest, request, disposition=disposition, cors=True)


async def _redirect_to_store(
    services: Services, manifest: Manifest, request: Request, disposition: str
) -> Response | None:
    """A 307 to the file's object in the store, when configured and S3 answers as we would."""
    s3 = services.settings.storage.s3
    if not s3.redirect_downloads or services.settings.storage.backend != "s3" or request.method != "GET":
        return None
    if "if-none-match" in request.headers or "if-range" in request.headers:
        return None
    range_header = request.headers.get("range")
    from_start = True
    if range_header is not None:
        try:
            ranges = parse_range(range_header, manifest.size)
        except RangeNotSatisfiable:
            return None  # our 416 names the size; S3's would be XML
        # The client sends its own header to S3: only one plain range is sure to read the same there.
        if ranges is None or len(ranges) > 1:
            return None
        from_start = ranges[0].start == 0
    url = services.reader.object_url(
        manifest,
        expires=s3.redirect_ttl,
        # The user-bytes rules, as far as S3 can carry them: an attachment, and since S3 cannot send
        # nosniff or a sandbox, an active type (HTML, SVG, script) only as opaque bytes.
        response_headers={
            "Content-Type": clean_media_type(manifest.mime_type)
            if is_passive_type(manifest.mime_type)
            else "application/octet-stream",
            "Content-Disposition": disposition,
        },
    )
    if url is None:
        return None
    if from_start:
        await count_download(services, manifest)
    return Response(
        status_code=307,
        headers={
            "location": url,
            "cache-control": "no-store",  # the URL expires; the next request must get a fresh one
            "x-content-sha256": manifest.sha256,
            "access-control-allow-origin": "*",
        },
    )


BYTES_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The whole file", "content": {"application/octet-stream": {}}},
    206: {"description": "The requested range(s)", "content": {"application/octet-stream": {}}},
    304: {"description": "Not modified (If-None-Match matched)"},
    307: {"description": "Fetch the bytes from the object store (storage.s3.redirect_downloads)"},
    **error_responses(400, 404, 416, 429, 503),
}


def create_download_router() -> APIRouter:
    """``/api/download/<sha256>`` and the WebSeed ``/api/webseed/<sha256>[/<name>]``."""
    router = APIRouter(tags=["download"])

    @router.get("/api/download/{sha256}", responses=BYTES_RESPONSES)
    @router.head("/api/download/{sha256}", include_in_schema=False)
    async def download(sha256: str, request: Request, services: ServicesDep) -> Response:
        """The file's bytes; supports Range (single and multiple), If-None-Match and If-Range."""
        return await _serve(sha256, request, services, webseed=False)

    @router.get("/api/webseed/{sha256}", responses=BYTES_RESPONSES)
    @router.head("/api/webseed/{sha256}", include_in_schema=False)
    @router.get("/api/webseed/{sha256}/{name:path}", responses=BYTES_RESPONSES, operation_id="webseed_named")
    @router.head("/api/webseed/{sha256}/{name:path}", include_in_schema=False)
    async def webseed(sha256: str, request: Request, services: ServicesDep, name: str = "") -> Response:
        """BEP 19 WebSeed: plain HTTP range requests; the trailing name is ignored."""
        return await _serve(sha256, request, services, webseed=True)

    return router
