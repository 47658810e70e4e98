"""Request-scoped dependencies shared by every component's routers, and the documented error shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ValidationError

from ..manifest import Manifest, is_sha256
from ..services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def request_pubkey(request: Request, services: ServicesDep) -> str | None:
    """The caller's Nostr pubkey when an authenticator is installed and credentials were sent."""
    authenticator = services.authenticator
    if authenticator is None:
        return None
    return await authenticator.authenticate(request)


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


ERROR_SCHEMA = {"content": {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the documented error statuses of a route."""
    text = {
        400: "Malformed request (hash, body, multipart, header)",
        401: "Missing or invalid credentials",
        403: "Forbidden (banned or not allowed)",
        404: "No such file",
        409: "Conflict with the current state",
        413: "Over the size limit",
        415: "Unsupported media type",
        416: "Range not satisfiable",
        422: "Invalid parameters",
        429: "Rate limited",
        451: "Removed by an administrator",
        503: "A backend is unavailable; retry later",
    }
    return {code: {"description": text[code], **ERROR_SCHEMA} for code in codes}


async def read_capped_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past ``limit`` (never held whole)."""
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise HTTPException(413, detail=f"request body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail=f"request body larger than {limit} bytes")
    return bytes(body)


async def parse_json_body(request: Request, model: type[BaseModel], limit: int) -> Any:
    """Read (capped) and validate a JSON body — called by a route after its authentication, so
    nobody makes us read a body before we know who they are."""
    raw = await read_capped_body(request, limit)
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise HTTPException(
            422, detail=exc.errors(include_url=False, include_context=False, include_input=False)
        ) from None
