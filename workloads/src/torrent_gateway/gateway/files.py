"""File records: listing recent files, one file's JSON view, and its .torrent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from ..bencode import bdecode, bencode
from ..ingest.torrent import render_metainfo
from ..manifest import torrent_key
from ..storage import ObjectNotFound
from .deps import ServicesDep, error_responses, load_manifest
from .urls import base_url, describe, tracker_urls, webseed_url

router = APIRouter(tags=["files"])


@router.get("/api/files", responses=error_responses(422, 503))
async def list_files(
    request: Request,
    services: ServicesDep,
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> dict[str, Any]:
    """Recently uploaded files, newest first."""
    manifests = await services.catalog.recent(limit, offset)
    return {
        "files": [describe(request, services.settings, m) for m in manifests],
        "offset": offset,
        "limit": limit,
    }


@router.get("/api/files/{sha256}", responses=error_responses(400, 404, 503))
async def file_info(sha256: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Name, size, type, sha256, infohash, magnet (xt, dn, xl, tr, ws) and every URL of one file."""
    manifest = await load_manifest(sha256, services)
    return describe(request, services.settings, manifest)


@router.get(
    "/api/torrent/{sha256}",
    responses={
        200: {"content": {"application/x-bittorrent": {}}, "description": "The .torrent"},
        **error_responses(400, 404, 503),
    },
)
async def torrent_file(sha256: str, request: Request, services: ServicesDep) -> Response:
    """The .torrent: our tracker(s) in announce/announce-list, our WebSeed in url-list."""
    manifest = await load_manifest(sha256, services)
    try:
        stored = await services.store.get_bytes(torrent_key(manifest.sha256))
    except ObjectNotFound:
        raise HTTPException(404, "this file has no torrent") from None
    decoded = bdecode(stored)
    info_bytes = bencode(decoded[b"info"])
    layers = decoded.get(b"piece layers")
    base = base_url(request, services.settings)
    body = render_metainfo(
        info_bytes, tracker_urls(base, services.settings), [webseed_url(base, manifest)], piece_layers=layers
    )
    safe = manifest.name.encode("ascii", "ignore").decode().replace('"', "") or "file"
    return Response(
        body,
        media_type="application/x-bittorrent",
        headers={
            "content-disposition": f'attachment; filename="{safe}.torrent"',
            "access-control-allow-origin": "*",
        },
    )
