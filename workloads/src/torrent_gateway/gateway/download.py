"""Downloads and the WebSeed: GET/HEAD of a file's bytes with single and multiple ranges.

``/api/download/<sha256>`` is for people (Content-Disposition with the original name);
``/api/webseed/<sha256>[/<name>]`` is the BEP 19 WebSeed named in every torrent's
``url-list`` (CORS open for WebTorrent). Both reassemble chunked files on the fly, through
:class:`~torrent_gateway.web.responses.FileResponse` (which sets the user-bytes headers).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from ..services import Services
from ..storage import StoreUnavailable
from ..web.deps import ServicesDep, error_responses, load_manifest
from ..web.responses import FileResponse, user_bytes_disposition


async def _serve(sha256: str, request: Request, services: Services, *, webseed: bool) -> Response:
    try:
        manifest = await load_manifest(sha256, services)
    except StoreUnavailable:
        raise HTTPException(503, "object store unavailable", headers={"Retry-After": "5"}) from None
    # BitTorrent clients ignore Content-Disposition; a browser opening a WebSeed URL must not render.
    disposition = user_bytes_disposition(manifest, attachment=not webseed)
    return FileResponse(services, manifest, request, disposition=disposition, cors=True)


BYTES_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The whole file", "content": {"application/octet-stream": {}}},
    206: {"description": "The requested range(s)", "content": {"application/octet-stream": {}}},
    304: {"description": "Not modified (If-None-Match matched)"},
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
