"""Uploads: ``POST /api/upload`` (multipart/form-data, field ``file``) and raw ``PUT /api/upload``.

The body is streamed into an ingest session as it arrives — never spooled whole — so memory
stays flat and the size limit is enforced before the whole body is read (413). A client that
disconnects mid-upload leaves nothing behind.

``announce_dht`` (the original gateway's upload option) comes as a query parameter or, on
multipart, as a form field before or after the file; ``false`` keeps a new file out of our DHT
announces. It is recorded in the manifest, so it survives restarts and reaches the dht pods.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from ..ingest import IngestError, IngestSession
from ..manifest import Manifest
from ..services import Services
from ..state import StateUnavailable
from ..storage import StoreUnavailable
from ..web.deps import PubkeyDep, ServicesDep, error_responses
from ..web.urls import describe

log = logging.getLogger(__name__)
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64  # the only form field we read is a boolean
ANNOUNCE_DHT_FIELD = b"announce_dht"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def parse_announce_dht(value: str | None) -> bool | None:
    """The seed's ``announce_dht`` option: None when absent, else a boolean; anything else is a 400."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise HTTPException(400, "announce_dht must be true or false")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise HTTPException(400, "invalid Content-Length")
    return int(value)


def _check_owner(services: Services, pubkey: str | None) -> None:
    """Who may upload: anyone, unless anonymous uploads are off or ``blossom.allowed_pubkeys``
    lists the only uploaders (the same list holds for the gateway's uploads and Blossom's)."""
    allowed = services.settings.blossom.allowed_pubkeys
    if pubkey is None and allowed:
        raise HTTPException(401, "log in to upload: only listed pubkeys may upload here")
    if pubkey is None and not services.settings.gateway.anonymous_uploads:
        raise HTTPException(401, "log in to upload (anonymous uploads are disabled)")
    if pubkey is not None and allowed and pubkey not in allowed:
        raise HTTPException(403, "this pubkey is not allowed to upload here")


async def _finish(
    session: IngestSession,
    request: Request,
    services: Services,
    pubkey: str | None,
    body_digest: Any = None,
) -> JSONResponse:
    expected = getattr(request.state, "nip98_payload", None)

    async def accept(sha256: str, size: int) -> None:
        # A NIP-98 event that signs a payload hash binds the request to exactly that body.
        if expected is None:
            return
        actual = body_digest.hexdigest() if body_digest is not None else sha256
        if actual != expected:
            raise IngestError(401, "NIP-98 payload tag does not match the request body")

    manifest, created = await session.finish(pubkey, accept=accept)
    return _reply(request, services, manifest, created)


def _reply(request: Request, services: Services, manifest: Manifest, created: bool) -> JSONResponse:
    body = describe(request, services.settings, manifest)
    body["created_now"] = created
    return JSONResponse(body, status_code=201 if created else 200)


def _translate(exc: Exception) -> HTTPException:
    if isinstance(exc, IngestError):
        return HTTPException(exc.status, exc.message)
    if isinstance(exc, (StoreUnavailable, StateUnavailable)):
        return HTTPException(
            503, "storage temporarily unavailable; retry later", headers={"Retry-After": "10"}
        )
    raise exc


UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already stored: the existing record"},
    **error_responses(400, 401, 403, 413, 429, 451, 503),
}


class _MultipartFileReader:
    """Feeds the first file part of a multipart body into an ingest session, streaming, and reads
    the ``announce_dht`` field (capped); every other field is skipped unread."""

    def __init__(self, services: Services, declared: int | None, content_type: str) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise HTTPException(400, "multipart/form-data without a boundary")
        self.services = services
        self.declared = declared
        self.session: IngestSession | None = None
        self.done_file = False
        self.in_file = False
        self.header_bytes = 0
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._queue: list[bytes] = []
        self.in_announce_field = False
        self._announce_value = b""
        self.announce_dht: bool | None = None
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
            max_size=float("inf"),
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_bytes += end - start
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_bytes += end - start
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self.header_bytes > MAX_PART_HEADER_BYTES:
            raise HTTPException(400, "multipart part headers too large")
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, params = parse_options_header(disposition)
        filename = params.get(b"filename")
        if filename is None and params.get(b"name") == ANNOUNCE_DHT_FIELD:
            self.in_announce_field = True
            self._announce_value = b""
            return
        if filename is not None and not self.done_file and self.session is None:
            name = filename.decode("utf-8", "replace")
            part_type = self._headers.get(b"content-type", b"").decode("latin-1")
            self.session = self.services.ingestor.begin(name, part_type, self.declared)
            self.in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self._queue.append(data[start:end])
        elif self.in_announce_field:
            self._announce_value += data[start:end]
            if len(self._announce_value) > MAX_FIELD_BYTES:
                raise HTTPException(400, "announce_dht must be true or false")

    def _part_end(self) -> None:
        if self.in_announce_field:
            self.in_announce_field = False
            self.announce_dht = parse_announce_dht(self._announce_value.decode("utf-8", "replace"))
        if self.in_file:
            self.in_file = False
            self.done_file = True

    async def write(self, data: bytes) -> None:
        try:
            self.parser.write(data)
        except HTTPException:
            raise
        except IngestError:
            raise
        except Exception as exc:
            raise HTTPException(400, f"malformed multipart body: {exc}") from None
        if self._queue and self.session is not None:
            queued, self._queue = self._queue, []
            for piece in queued:
                await self.session.feed(piece)

    def finalize(self) -> None:
        try:
            self.parser.finalize()
        except Exception as exc:
            raise HTTPException(400, f"malformed multipart body: {exc}") from None
        if self.session is None:
            raise HTTPException(400, "multipart body has no file part (send it as field 'file')")
        if not self.done_file:
            raise HTTPException(400, "multipart body ended inside the file part")


def create_upload_router() -> APIRouter:
    """``PUT /api/upload`` (raw body) and ``POST /api/upload`` (multipart)."""
    router = APIRouter(tags=["upload"])

    @router.put(
        "/api/upload",
        status_code=201,
        responses=UPLOAD_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def upload_raw(
        request: Request,
        services: ServicesDep,
        pubkey: PubkeyDep,
        name: str | None = None,
        announce_dht: str | None = Query(
            None, description="false: seed it, but never announce it to the DHT"
        ),
    ) -> Any:
        """Raw body upload. Name from ``?name=`` or the ``X-Filename`` header; type from Content-Type."""
        _check_owner(services, pubkey)
        declared = _declared_length(request)
        announce = parse_announce_dht(announce_dht)
        file_name = name or request.headers.get("x-filename")
        session: IngestSession | None = None
        try:
            session = services.ingestor.begin(file_name, request.headers.get("content-type"), declared)
            if announce is not None:
                session.announce_dht = announce
            async for data in request.stream():
                await session.feed(data)
            return await _finish(session, request, services, pubkey)
        except ClientDisconnect:
            log.info("client went away during a raw upload")
            raise HTTPException(400, "client disconnected before the upload completed") from None
        except (IngestError, StoreUnavailable, StateUnavailable) as exc:
            raise _translate(exc) from None
        finally:
            if session is not None:
                await session.abort()

    @router.post(
        "/api/upload",
        status_code=201,
        responses={**UPLOAD_RESPONSES, **error_responses(415)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "announce_dht": {"type": "boolean", "default": True},
                            },
                            "required": ["file"],
                        }
                    }
                },
            }
        },
    )
    async def upload_multipart(
        request: Request,
        services: ServicesDep,
        pubkey: PubkeyDep,
        announce_dht: str | None = Query(
            None, description="false: seed it, but never announce it to the DHT"
        ),
    ) -> Any:
        """``curl -F file=@movie.mp4 -F announce_dht=false http://localhost:9876/api/upload``"""
        _check_owner(services, pubkey)
        announce = parse_announce_dht(announce_dht)
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise HTTPException(415, "send multipart/form-data with a 'file' field, or PUT the raw bytes")
        declared = _declared_length(request)
        reader: _MultipartFileReader | None = None
        try:
            reader = _MultipartFileReader(services, declared, content_type)
            body_digest = hashlib.sha256() if getattr(request.state, "nip98_payload", None) else None
            async for data in request.stream():
                if body_digest is not None:
                    body_digest.update(data)
                await reader.write(data)
            reader.finalize()
            assert reader.session is not None
            # The form field, wherever it sat in the body, wins over the query parameter.
            for choice in (announce, reader.announce_dht):
                if choice is not None:
                    reader.session.announce_dht = choice
            return await _finish(reader.session, request, services, pubkey, body_digest)
        except ClientDisconnect:
            log.info("client went away during a multipart upload")
            raise HTTPException(400, "client disconnected before the upload completed") from None
        except (IngestError, StoreUnavailable, StateUnavailable) as exc:
            raise _translate(exc) from None
        finally:
            if reader is not None and reader.session is not None:
                await reader.session.abort()

    return router
