"""A logged-in user's own space: usage statistics, their files, and giving a file up.

Ownership lives in the manifests (``owners``) and the catalog's ``idx:owner:<pubkey>`` index;
download counts are the per-file counters ``stats:downloads:<sha256>`` kept by the download
route. Deleting removes only the caller's ownership: the bytes (and the torrent's tracker and
DHT announcement, through the catalog's ``on_removed`` hooks) go when no owner is left and
nobody uploaded them anonymously (an anonymous upload is a reference no later owner can drop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query, Request

from ..web.deps import ServicesDep, check_sha256
from ..web.urls import describe
from .deps import UserDep

if TYPE_CHECKING:
    from ..services import Services

USAGE_PAGE = 200


async def downloads_of(services: Services, sha256: str) -> int:
    raw = await services.state.get(f"stats:downloads:{sha256}")
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


async def usage(services: Services, pubkey: str) -> dict[str, int]:
    """Files owned, their total bytes and total downloads (walks the owner index page by page)."""
    files = await services.catalog.count_owned(pubkey)
    total_bytes = downloads = 0
    for offset in range(0, files, USAGE_PAGE):
        for manifest in await services.catalog.owned_by(pubkey, USAGE_PAGE, offset):
            total_bytes += manifest.size
            downloads += await downloads_of(services, manifest.sha256)
    return {"files": files, "bytes": total_bytes, "downloads": downloads}


def create_users_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/users/me", tags=["users"])

    @router.get("/stats")
    async def my_stats(pubkey: UserDep, services: ServicesDep) -> dict[str, Any]:
        """How many files the caller owns, how many bytes, how often they were downloaded."""
        return {"pubkey": pubkey, **await usage(services, pubkey)}

    @router.get("/files")
    async def my_files(
        request: Request,
        pubkey: UserDep,
        services: ServicesDep,
        limit: int = Query(50, ge=1, le=200),
        offset: int = Query(0, ge=0, le=1_000_000),
    ) -> dict[str, Any]:
        """The caller's files, most recently added first."""
        manifests = await services.catalog.owned_by(pubkey, limit, offset)
        files = []
        for manifest in manifests:
            view = describe(request, services.settings, manifest)
            view["downloads"] = await downloads_of(services, manifest.sha256)
            view["added"] = manifest.owners.get(pubkey)
            view["owners"] = [pubkey]  # co-owners of shared bytes stay private to each other
            files.append(view)
        return {
            "files": files,
            "total": await services.catalog.count_owned(pubkey),
            "limit": limit,
            "offset": offset,
        }

    @router.delete("/files/{sha256}")
    async def delete_my_file(sha256: str, pubkey: UserDep, services: ServicesDep) -> dict[str, Any]:
        """Give up ownership of one file; it is deleted when nobody else owns it."""
        sha = check_sha256(sha256)
        was_owner, deleted = await services.catalog.remove_owner(sha, pubkey)
        if not was_owner:
            raise HTTPException(404, detail="you own no file with this sha256")
        return {"sha256": sha, "removed": True, "file_deleted": deleted}

    return router
