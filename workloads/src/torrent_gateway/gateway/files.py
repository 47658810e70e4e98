"""File records: listing recent files, one file's JSON view, and its .torrent.

Who owns a file is nobody else's business: the public views name no owner pubkey. A caller
sees whether they own it (``owners`` holds just them), admins see every owner. The list of
recent uploads is public only with ``gateway.public_file_list`` (else admins only); a file
itself is always reachable by its hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from ..bencode import bdecode, bencode
from ..ingest.torrent import render_metainfo
from ..manifest import Manifest, torrent_key
from ..services import Services
from ..storage import ObjectNotFound
from ..web.deps import PubkeyDep, ServicesDep, error_responses, load_manifest
from ..web.urls import base_url, describe, tracker_urls, webseed_url


async def _is_admin(services: Services, pubkey: str | None) -> bool:
    authenticator = services.authenticator
    return pubkey is not None and authenticator is not None and bool(await authenticator.is_admin(pubkey))


def public_view(
    request: Request, services: Services, manifest: Manifest, caller: str | None, admin: bool
) -> dict[str, Any]:
    """A file's JSON view for this caller: every owner for an admin, else only the caller."""
    view = describe(request, services.settings, manifest)
    if not admin:
        view["owners"] = [caller] if caller is not None and caller in manifest.owners else []
    return view


def create_files_router() -> APIRouter:
    """The file list, one file's description and its .torrent."""
    router = APIRouter(tags=["files"])

    @router.get("/api/files", responses=error_responses(401, 403, 422, 503))
    async def list_files(
        request: Request,
        services: ServicesDep,
        caller: PubkeyDep,
        limit: int = Query(20, ge=1, le=200),
        offset: int = Query(0, ge=0, le=1_000_000),
    ) -> dict[str, Any]:
        """Recently uploaded files, newest first (public with ``gateway.public_file_list``, else admins)."""
        admin = await _is_admin(services, caller)
        if not services.settings.gateway.public_file_list and not admin:
            if caller is None:
                raise HTTPException(
                    401,
                    "the list of recent files is for admins on this gateway (gateway.public_file_list is off)",
                    headers={"WWW-Authenticate": 'Bearer realm="torrent-gateway", Nostr'},
                )
            raise HTTPException(403, "the list of recent files is for admins on this gateway")
        manifests = await services.catalog.recent(limit, offset)
        return {
            "files": [public_view(request, services, m, caller, admin) for m in manifests],
            "offset": offset,
            "limit": limit,
        }

    @router.get("/api/files/{sha256}", responses=error_responses(400, 404, 503))
    async def file_info(
        sha256: str, request: Request, services: ServicesDep, caller: PubkeyDep
    ) -> dict[str, Any]:
        """Name, size, type, sha256, infohash, magnet (xt, dn, xl, tr, ws) and every URL of one file;
        ``owners`` is the caller when they own it (every owner for admins)."""
        manifest = await load_manifest(sha256, services)
        return public_view(request, services, manifest, caller, await _is_admin(services, caller))

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
            info_bytes,
            tracker_urls(base, services.settings),
            [webseed_url(base, manifest)],
            piece_layers=layers,
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

    return router
