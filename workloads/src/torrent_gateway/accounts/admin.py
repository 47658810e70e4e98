"""Administration: users and their usage, bans, removing and blocking content, Blossom reports,
recent uploads — each action written to an audit log.

Admins are the pubkeys in ``auth.admin_pubkeys``; every route denies anyone else (401 without
credentials, 403 with someone else's). State used:

* ``ban:<pubkey>``   ban record JSON; a banned key's sessions are revoked and its requests get 403
* ``block:<sha256>`` block record JSON; the ingest refuses that content with 451
* ``reports``        sorted set written by Blossom (BUD-09): member = report JSON, score = time
* ``audit``          sorted set: member = audit record JSON, score = time
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field, RootModel

from ..manifest import is_sha256
from ..web.deps import ServicesDep, check_sha256, parse_json_body
from ..web.urls import describe
from .deps import AuthenticatorDep, UserDep, authenticator_of
from .users import usage

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)
audit_log = logging.getLogger("torrent_gateway.audit")

ADMIN_MAX_BODY = 16 * 1024  # an admin body is a reason of at most 1000 characters
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


async def require_admin(pubkey: UserDep, authenticator: AuthenticatorDep) -> str:
    if not await authenticator.is_admin(pubkey):
        raise HTTPException(403, detail="admin rights required")
    return pubkey


AdminDep = Annotated[str, Depends(require_admin)]


def check_pubkey(pubkey: str) -> str:
    value = pubkey.lower()
    if not is_sha256(value):  # same shape: 64 lowercase hex characters
        raise HTTPException(400, detail="malformed pubkey: expected 64 hexadecimal characters")
    return value


async def record_audit(
    services: Services, admin: str, action: str, target: str, **details: Any
) -> dict[str, Any]:
    """Append one admin action to the audit log (state sorted set ``audit`` and a log line)."""
    now = time.time()
    entry = {
        "id": secrets.token_hex(8),
        "time": now,
        "admin": admin,
        "action": action,
        "target": target,
        "details": details,
    }
    await services.state.zadd("audit", json.dumps(entry, sort_keys=True), now)
    audit_log.info("admin %s: %s %s %s", admin, action, target, json.dumps(details, sort_keys=True))
    return entry


def _decode_member(member: str) -> Any:
    try:
        return json.loads(member)
    except ValueError:
        return member


class Reason(BaseModel):
    reason: str = Field("", max_length=1000, description="Why (kept in the audit log).")


class OptionalReason(RootModel[Reason | None]):
    """A ban body: a reason, or nothing at all."""


def create_admin_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/admin", tags=["admin"])

    @router.get("/users")
    async def list_users(
        admin: AdminDep, services: ServicesDep, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        """Uploaders, most recently active first, with their usage and ban state."""
        entries = await services.state.zrange("idx:owners", offset, offset + limit - 1, desc=True)
        authenticator = authenticator_of(services)
        users = []
        for pubkey, last_upload in entries:
            users.append(
                {
                    "pubkey": pubkey,
                    "last_upload": last_upload,
                    "banned": await authenticator.is_banned(pubkey),
                    "is_admin": await authenticator.is_admin(pubkey),
                    **await usage(services, pubkey),
                }
            )
        return {
            "users": users,
            "total": await services.state.zcard("idx:owners"),
            "limit": limit,
            "offset": offset,
        }

    @router.get("/users/{pubkey}")
    async def user_detail(pubkey: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        key = check_pubkey(pubkey)
        authenticator = authenticator_of(services)
        return {
            "pubkey": key,
            "ban": await authenticator.ban_record(key),
            "is_admin": await authenticator.is_admin(key),
            "sessions": await services.state.zcard(f"auth:sessions:{key}"),
            **await usage(services, key),
        }

    @router.post(
        "/users/{pubkey}/ban",
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": Reason.model_json_schema()}},
            }
        },
    )
    async def ban(pubkey: str, request: Request, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        """Ban a pubkey: its sessions are revoked, its logins, uploads and API calls refused (403)."""
        # The body is read here, after AdminDep: nobody but an admin makes us read one.
        body: OptionalReason = await parse_json_body(request, OptionalReason, ADMIN_MAX_BODY)
        key = check_pubkey(pubkey)
        authenticator = authenticator_of(services)
        if await authenticator.is_admin(key):
            raise HTTPException(
                409, detail="an admin cannot be banned: remove it from auth.admin_pubkeys first"
            )
        reason = body.root.reason if body.root is not None else ""
        record = {"reason": reason, "by": admin, "at": time.time()}
        await services.state.set(f"ban:{key}", json.dumps(record).encode())
        revoked = await authenticator.revoke_all(key)
        await record_audit(services, admin, "ban", key, reason=reason, sessions_revoked=revoked)
        return {"pubkey": key, "banned": True, "sessions_revoked": revoked}

    @router.post("/users/{pubkey}/unban")
    async def unban(pubkey: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        key = check_pubkey(pubkey)
        if not await services.state.delete(f"ban:{key}"):
            raise HTTPException(404, detail="this pubkey is not banned")
        await record_audit(services, admin, "unban", key)
        return {"pubkey": key, "banned": False}

    @router.get("/bans")
    async def list_bans(admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        authenticator = authenticator_of(services)
        bans = []
        for key in sorted(await services.state.scan("ban:")):
            pubkey = key.removeprefix("ban:")
            record = await authenticator.ban_record(pubkey)
            if record is not None:
                bans.append({"pubkey": pubkey, **record})
        return {"bans": bans}

    @router.delete("/files/{sha256}")
    async def remove_content(
        sha256: str,
        admin: AdminDep,
        services: ServicesDep,
        reason: Annotated[str, Query(max_length=1000)] = "",
    ) -> dict[str, Any]:
        """Delete a file whoever owns it and block its hash from being uploaded again (451)."""
        sha = check_sha256(sha256)
        removed = await services.catalog.delete_file(sha)
        record = {"reason": reason, "by": admin, "at": time.time()}
        await services.state.set(f"block:{sha}", json.dumps(record).encode())
        await record_audit(
            services,
            admin,
            "remove_content",
            sha,
            reason=reason,
            deleted=removed is not None,
            name=removed.name if removed else None,
            owners=sorted(removed.owners) if removed else [],
        )
        return {"sha256": sha, "deleted": removed is not None, "blocked": True}

    @router.get("/blocks")
    async def list_blocks(admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        blocks = []
        for key in sorted(await services.state.scan("block:")):
            raw = await services.state.get(key)
            if raw is None:
                continue
            record = _decode_member(raw.decode("utf-8", "replace"))
            blocks.append(
                {
                    "sha256": key.removeprefix("block:"),
                    **(record if isinstance(record, dict) else {"reason": record}),
                }
            )
        return {"blocks": blocks}

    @router.delete("/blocks/{sha256}")
    async def unblock(sha256: str, admin: AdminDep, services: ServicesDep) -> dict[str, Any]:
        sha = check_sha256(sha256)
        if not await services.state.delete(f"block:{sha}"):
            raise HTTPException(404, detail="this hash is not blocked")
        await record_audit(services, admin, "unblock", sha)
        return {"sha256": sha, "blocked": False}

    @router.get("/reports")
    async def list_reports(
        admin: AdminDep, services: ServicesDep, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        """Blossom (BUD-09) reports, newest first."""
        entries = await services.state.zrange("reports", offset, offset + limit - 1, desc=True)
        reports = [{"received": score, "report": _decode_member(member)} for member, score in entries]
        return {
            "reports": reports,
            "total": await services.state.zcard("reports"),
            "limit": limit,
            "offset": offset,
        }

    @router.get("/uploads")
    async def recent_uploads(
        request: Request, admin: AdminDep, services: ServicesDep, limit: Limit = 50, offset: Offset = 0
    ) -> dict[str, Any]:
        """Recently published files with their owners."""
        manifests = await services.catalog.recent(limit, offset)
        return {
            "files": [describe(request, services.settings, m) for m in manifests],
            "limit": limit,
            "offset": offset,
        }

    @router.get("/audit")
    async def audit(
        admin: AdminDep, services: ServicesDep, limit: Limit = 100, offset: Offset = 0
    ) -> dict[str, Any]:
        """The audit log, newest first."""
        entries = await services.state.zrange("audit", offset, offset + limit - 1, desc=True)
        return {
            "entries": [_decode_member(m) for m, _ in entries],
            "total": await services.state.zcard("audit"),
            "limit": limit,
            "offset": offset,
        }

    return router
