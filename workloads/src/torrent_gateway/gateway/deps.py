"""Request-scoped dependencies shared by the gateway's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ..manifest import Manifest, is_sha256
from ..services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def request_pubkey(request: Request, services: ServicesDep) -> str | None:
    """The caller's Nostr pubkey when an authenticator is installed and credentials were sent."""
    authenticator = services.extras.get("authenticator")
    if authenticator is None:
        return None
    return await authenticator.authenticate(request)  # type: ignore[no-any-return]


PubkeyDep = Annotated[str | None, Depends(request_pubkey)]


def check_sha256(sha256: str) -> str:
    value = sha256.lower()
    if not is_sha256(value):
        raise HTTPException(400, "malformed sha256: expected 64 hexadecimal characters")
    return value


async def load_manifest(sha256: str, services: Services) -> Manifest:
    manifest = await services.catalog.get(check_sha256(sha256))
    if manifest is None:
        raise HTTPException(404, "no file with this sha256")
    return manifest
