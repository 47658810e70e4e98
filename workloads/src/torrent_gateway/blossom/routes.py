"""The Blossom endpoints, at the root of whatever app mounts them.

``GET|HEAD /<sha256>[.ext]`` (BUD-01), ``PUT /upload`` and ``HEAD /upload`` (BUD-02/06),
``PUT /mirror`` (BUD-04), ``PUT /report`` (BUD-09), ``GET /list/<pubkey>`` and
``DELETE /<sha256>`` (BUD-12), and ``OPTIONS`` preflight on each of those paths.

Every response carries ``Access-Control-Allow-Origin: *``; every error (>= 400) carries an
``X-Reason`` header and a ``{"message": ...}`` body. That is done by :class:`BlossomRoute`,
a route class wrapping only these endpoints, so the gateway's own error format is
unchanged when this router is mounted into it. Blob paths use a path convertor that only
matches a 64-hex hash (plus an optional extension): the router never shadows the
gateway's one-segment paths (``/api``, ``/healthz``, ``/announce``, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import Counter
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect

from ..ingest import IngestError
from ..ingest.naming import guess_mime_type
from ..manifest import Manifest, blob_key, is_sha256
from ..services import Services
from ..state import StateUnavailable
from ..storage import StoreUnavailable
from ..web.responses import FileResponse, user_bytes_disposition
from ..web.urls import base_url, file_links
from . import rules
from .auth import AuthError, BlossomAuth, require_covers, require_get_scope, verify_auth
from .descriptors import descriptor, extension_for
from .errors import BlossomError
from .listing import Entry, PageQuery, collect_page
from .mirror import open_origin
from .reports import MAX_REPORT_BYTES, parse_report, store_report

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "tgw_blossom_requests_total", "Blossom requests by endpoint and status", ["endpoint", "status"]
)
STORED_BYTES = Counter(
    "tgw_blossom_ingested_bytes_total", "Bytes received by Blossom uploads and mirrors", ["via"]
)

CORS_ALLOW_HEADERS = "Authorization, *"
CORS_ALLOW_METHODS = "GET, HEAD, PUT, DELETE"
CORS_MAX_AGE = "86400"
MAX_MIRROR_REQUEST = 16 * 1024
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# Clients written before BUD-12 paging ask /list/<pubkey> without a limit and expect everything.
MAX_UNPAGED = 10_000
MAX_REASON_CHARS = 300


class BlobConvertor(Convertor[str]):
    """``<sha256>`` with an optional extension (``.pdf``, ``.tar.gz`` is not a thing here)."""

    regex = "[0-9a-fA-F]{64}(?:\\.[A-Za-z0-9]{1,16})?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("blossom_blob", BlobConvertor())


def _reason_header(reason: str) -> str:
    # Header values must be one latin-1 line.
    flat = " ".join(reason.split())[:MAX_REASON_CHARS]
    return flat.encode("latin-1", "replace").decode("latin-1")


def error_response(
    request: Request, status: int, reason: str, headers: dict[str, str] | None = None
) -> Response:
    extra = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-length", "content-type")}
    extra["X-Reason"] = _reason_header(reason)
    if request.method == "HEAD":
        return Response(status_code=status, headers=extra)
    return JSONResponse({"message": reason}, status_code=status, headers=extra)


def add_cors(response: Response) -> None:
    headers = response.headers
    headers["access-control-allow-origin"] = "*"
    if "access-control-expose-headers" not in headers:
        headers["access-control-expose-headers"] = "*"


def preflight_headers() -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Max-Age": CORS_MAX_AGE,
    }


class BlossomRoute(APIRoute):
    """Turns every failure of a Blossom endpoint into a Blossom error and adds CORS to every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.name

        async def blossom_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except BlossomError as exc:
                response = error_response(request, exc.status, exc.reason, exc.headers)
            except IngestError as exc:
                response = error_response(request, exc.status, exc.message)
            except HTTPException as exc:
                response = error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                response = error_response(
                    request, 400, f"invalid request: {where} {first.get('msg', '')}".strip()
                )
            except ClientDisconnect:
                log.info("client went away during %s", endpoint)
                response = error_response(request, 400, "client disconnected before the request completed")
            except (StoreUnavailable, StateUnavailable):
                log.warning("storage unavailable during %s", endpoint)
                response = error_response(
                    request, 503, "storage temporarily unavailable; retry later", {"Retry-After": "10"}
                )
            except Exception:
                log.exception("blossom %s failed", endpoint)
                response = error_response(request, 500, "internal server error")
            if response.status_code >= 400 and "x-reason" not in response.headers:
                # Responses built elsewhere (a 416 from the range code) still get their reason.
                response.headers["x-reason"] = HTTPStatus(response.status_code).phrase
            add_cors(response)
            REQUESTS.labels(endpoint, str(response.status_code)).inc()
            return response

        return blossom_handler


def split_blob(value: str) -> str:
    """The lowercase sha256 of a ``<sha256>[.ext]`` path segment."""
    sha = value.split(".", 1)[0].lower()
    if not is_sha256(sha):
        raise BlossomError(400, "malformed blob path: expected /<sha256>[.ext]")
    return sha


def chunk_manifest(sha256: str, size: int, *, data_key: str | None = None, data_offset: int = 0) -> Manifest:
    """A read-only view of a bare blob (a chunk of a large file) for the range-serving code."""
    return Manifest(
        data_key=data_key,
        data_offset=data_offset,
        sha256=sha256,
        size=size,
        name=sha256,
        mime_type="application/octet-stream",
        kind="blob",
        chunk_size=size,
        piece_length=size,
        infohash="",
    )


def _int_param(request: Request, name: str, *, minimum: int = 0) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 19 or int(text) < minimum:
        raise BlossomError(400, f"query parameter '{name}' must be an integer >= {minimum}")
    return int(text)


async def _read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for data in request.stream():
        body += data
        if len(body) > limit:
            raise BlossomError(413, f"request body larger than {limit} bytes")
    return bytes(body)


class Blossom:
    """The endpoints over one set of services; ``clock`` is injectable for token-time tests."""

    def __init__(
        self, services: Services, *, clock: Callable[[], float] = time.time, standalone: bool = False
    ):
        self.services = services
        self.settings = services.settings
        self.config = services.settings.blossom
        self.clock = clock
        self.standalone = standalone

    # -- helpers --------------------------------------------------------------------------------
    def domains(self, request: Request) -> list[str]:
        """Names a ``server`` tag may use for us. Configured URLs win: a Host header is the
        client's to choose, so trusting it would let a token scoped to another server through."""
        configured = [self.config.public_url]
        if not self.standalone:
            configured.append(self.settings.gateway.public_url)
        names = [url for url in configured if url]
        return names or [request.url.hostname or ""]

    def base(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        if self.standalone:
            return str(request.base_url).rstrip("/")
        return base_url(request, self.settings)

    def describe(self, request: Request, manifest: Manifest, uploaded: float | None = None) -> dict[str, Any]:
        links = file_links(None if self.standalone else request, self.settings, manifest)
        return descriptor(manifest, base=self.base(request), uploaded=uploaded, magnet=links["magnet"])

    async def authorize(self, request: Request, verb: str, *, required: bool) -> BlossomAuth | None:
        header = request.headers.get("authorization")
        if header is not None and not header.strip().lower().startswith("nostr "):
            header = None  # a gateway session is no Blossom identity
        if header is None and verb == "upload":
            # ... but it still says who is asking: a banned user's session (403) or a revoked one
            # (401) must not upload as "anonymous" instead.
            await self.refuse_bad_gateway_credentials(request)
        if header is None and not required:
            return None
        auth = verify_auth(header, verb=verb, now=self.clock(), domains=self.domains(request))
        # Bans are the gateway's (``ban:<pubkey>`` in the state store): they hold here too.
        if await self.services.state.get(f"ban:{auth.pubkey}") is not None:
            raise AuthError(403, "this pubkey is banned from this server")
        return auth

    async def refuse_bad_gateway_credentials(self, request: Request) -> None:
        authenticator = self.services.authenticator
        if authenticator is not None:
            await authenticator.authenticate(request)

    def uploader(self, auth: BlossomAuth | None) -> str | None:
        pubkey = auth.pubkey if auth else None
        if self.config.allowed_pubkeys and pubkey is None:
            raise AuthError(401, "authorization required: only listed pubkeys may upload here")
        rules.check_pubkey(pubkey, self.config.allowed_pubkeys)
        return pubkey

    async def used_bytes(self, pubkey: str, exclude: str) -> int:
        entries = await self.services.state.zrange(f"idx:owner:{pubkey}", 0, -1)
        shas = [sha for sha, _ in entries if sha != exclude]
        manifests = await asyncio.gather(*(self.services.catalog.get(sha) for sha in shas))
        return sum(m.size for m in manifests if m is not None)

    async def is_blocked(self, sha256: str) -> bool:
        return await self.services.state.get(f"block:{sha256}") is not None

    async def find_blob(self, sha256: str) -> Manifest | None:
        manifest = await self.services.catalog.get(sha256)
        if manifest is not None:
            return manifest
        # A chunk of a large file is a blob too, while some file references it: stored on its own,
        # or as a range of the file's data object.
        holders = await self.services.state.zrange(f"idx:refs:{sha256}", 0, 0)
        if not holders:
            return None
        holder = await self.services.catalog.get(holders[0][0])
        if holder is not None and holder.data_key is not None and sha256 in holder.chunks:
            offset, length = holder.chunk_span(holder.chunks.index(sha256))
            return chunk_manifest(sha256, length, data_key=holder.data_key, data_offset=offset)
        info = await self.services.store.stat(blob_key(sha256))
        if info is None or info.size == 0:
            return None
        return chunk_manifest(sha256, info.size)

    async def ingest(
        self,
        body: AsyncIterator[bytes],
        *,
        via: str,
        name: str | None,
        content_type: str | None,
        length: int | None,
        owner: str | None,
        auth: BlossomAuth | None,
        announced: str | None,
        mismatch_status: int,
    ) -> tuple[Manifest, bool]:
        """Stream ``body`` into the store; nothing becomes visible unless every rule passes."""
        config = self.config
        session = self.services.ingestor.begin(name, content_type, length, max_size=config.max_blob_size)

        async def accept(sha256: str, size: int) -> None:
            rules.check_announced_hash(announced, sha256)
            if auth is not None:
                require_covers(auth, sha256, status=mismatch_status)
            mime = guess_mime_type(session.name, content_type, session.head)
            rules.check_type(mime, config.allowed_types, declared=False)
            if config.quota_bytes and owner:
                rules.check_quota(await self.used_bytes(owner, sha256), size, config.quota_bytes)
            # A Blossom blob has no file name of its own: name it after its hash, so the torrent
            # and downloads of it are "<sha256>.<ext>" with the type settled here.
            session.name = f"{sha256}{extension_for(mime)}"
            session.content_type = mime

        try:
            async for data in body:
                await session.feed(data)
                STORED_BYTES.labels(via).inc(len(data))
            return await session.finish(owner, accept=accept)
        finally:
            await session.abort()

    # -- endpoints ------------------------------------------------------------------------------
    async def get_blob(self, request: Request) -> Response:
        """The blob's bytes with its real type (BUD-01); Range (single and multiple), ETag and 304.
        An active type (HTML, SVG, script, ...) is an attachment: its bytes and type are intact for
        Blossom clients, but a browser saves it instead of rendering it on our origin."""
        sha = split_blob(request.path_params["blob"])
        if "get" in self.config.require_auth:
            auth = await self.authorize(request, "get", required=True)
            assert auth is not None
            require_get_scope(auth, sha)
        manifest = await self.find_blob(sha)
        if manifest is None:
            raise BlossomError(404, "blob not found")
        disposition = user_bytes_disposition(manifest, attachment=False)
        return FileResponse(self.services, manifest, request, disposition=disposition, cors=True)

    async def upload(self, request: Request) -> Response:
        """BUD-02: the raw body, hashed exactly as received; 201 new, 200 already stored."""
        config = self.config
        auth = await self.authorize(request, "upload", required="upload" in config.require_auth)
        owner = self.uploader(auth)
        announced = rules.parse_sha256_header(request.headers.get("x-sha-256"))
        if announced is not None:
            if auth is not None:
                require_covers(auth, announced)
            if await self.is_blocked(announced):
                raise BlossomError(451, "this content has been removed by an administrator")
        content_type = request.headers.get("content-type")
        rules.check_type(content_type, config.allowed_types, declared=True)
        length = rules.parse_length(request.headers.get("content-length"), "Content-Length")
        if length is not None:
            rules.check_size(length, config.max_blob_size)
        manifest, created = await self.ingest(
            request.stream(),
            via="upload",
            name=None,
            content_type=content_type,
            length=length,
            owner=owner,
            auth=auth,
            announced=announced,
            mismatch_status=403,
        )
        uploaded = manifest.owners.get(owner) if owner else None
        return JSONResponse(self.describe(request, manifest, uploaded), status_code=201 if created else 200)

    async def upload_requirements(self, request: Request) -> Response:
        """BUD-06: would ``PUT /upload`` accept this blob? 200, or the PUT's error and X-Reason."""
        config = self.config
        auth = await self.authorize(request, "upload", required="upload" in config.require_auth)
        owner = self.uploader(auth)
        announced = rules.parse_sha256_header(request.headers.get("x-sha-256"))
        if announced is not None and auth is not None:
            require_covers(auth, announced)
        length = rules.parse_length(request.headers.get("x-content-length"), "X-Content-Length")
        if length is None:
            raise BlossomError(411, "missing X-Content-Length header")
        rules.check_size(length, min(config.max_blob_size, self.services.ingestor.max_file_size))
        rules.check_type(request.headers.get("x-content-type"), config.allowed_types, declared=True)
        if announced is not None and await self.is_blocked(announced):
            raise BlossomError(451, "this content has been removed by an administrator")
        if config.quota_bytes and owner:
            rules.check_quota(await self.used_bytes(owner, announced or ""), length, config.quota_bytes)
        return Response(status_code=200)

    async def mirror(self, request: Request) -> Response:
        """BUD-04: fetch a blob from a URL; the token's ``x`` tag must match what arrives (409)."""
        config = self.config
        auth = await self.authorize(request, "upload", required="mirror" in config.require_auth)
        owner = self.uploader(auth)
        raw = await _read_limited(request, MAX_MIRROR_REQUEST)
        try:
            payload = json.loads(raw)
        except (ValueError, RecursionError):
            payload = None
        url = payload.get("url") if isinstance(payload, dict) else None
        if not isinstance(url, str):
            raise BlossomError(400, 'mirror body must be JSON {"url": "http(s)://..."}')
        # blossom-client-sdk announces the hash it expects; a different body is a conflict too.
        announced = rules.parse_sha256_header(request.headers.get("x-sha-256"))
        limit = min(config.max_blob_size, self.services.ingestor.max_file_size)
        try:
            async with asyncio.timeout(config.mirror_timeout_s):
                async with open_origin(
                    url,
                    allow_private=config.mirror_allow_private,
                    step_timeout=config.mirror_timeout_s,
                    max_size=limit,
                ) as origin:
                    manifest, created = await self.ingest(
                        origin.iter_bytes(),
                        via="mirror",
                        name=origin.file_name,
                        content_type=origin.content_type,
                        length=origin.content_length,
                        owner=owner,
                        auth=auth,
                        announced=announced,
                        mismatch_status=409,
                    )
        except TimeoutError:
            raise BlossomError(
                502, f"mirror origin did not deliver within {config.mirror_timeout_s:g} s"
            ) from None
        uploaded = manifest.owners.get(owner) if owner else None
        return JSONResponse(self.describe(request, manifest, uploaded), status_code=201 if created else 200)

    async def report(self, request: Request) -> Response:
        """BUD-09: keep a signed NIP-56 report about blobs we hold, for the operators."""
        raw = await _read_limited(request, MAX_REPORT_BYTES)
        event, targets = parse_report(raw)

        async def known(sha: str) -> bool:
            return await self.find_blob(sha) is not None

        stored = await store_report(
            self.services.state,
            event,
            targets,
            now=self.clock(),
            known=known,
            limits=self.services.settings.rate_limiting.report,
        )
        message = "report received" if stored else "report already received"
        return JSONResponse({"message": message, "stored": stored}, status_code=200)

    async def list_blobs(self, request: Request) -> Response:
        """BUD-12: the pubkey's blobs, newest first; ``cursor`` = last sha256 seen, ``limit``,
        ``since``/``until`` on the upload time."""
        pubkey = request.path_params["pubkey"].lower()
        if not is_sha256(pubkey):
            raise BlossomError(400, "pubkey must be 64 hexadecimal characters")
        auth = await self.authorize(request, "list", required="list" in self.config.require_auth)
        cursor = request.query_params.get("cursor") or None
        if cursor is not None:
            cursor = cursor.lower()
            if not is_sha256(cursor):
                raise BlossomError(400, "cursor must be the sha256 of the last blob of the previous page")
        limit = _int_param(request, "limit", minimum=1)
        query = PageQuery(
            cursor=cursor,
            limit=min(limit, MAX_PAGE) if limit is not None else MAX_UNPAGED,
            since=_int_param(request, "since"),
            until=_int_param(request, "until"),
        )
        show_private = auth is not None and auth.pubkey == pubkey

        async def resolve(rows: list[Entry]) -> list[dict[str, Any] | None]:
            manifests = await asyncio.gather(*(self.services.catalog.get(sha) for sha, _ in rows))
            out: list[dict[str, Any] | None] = []
            for (_, added), manifest in zip(rows, manifests, strict=True):
                visible = (
                    manifest is not None
                    and pubkey in manifest.owners
                    and (show_private or not manifest.private)
                )
                out.append(self.describe(request, manifest, added) if visible and manifest else None)
            return out

        page = await collect_page(self.services.state, f"idx:owner:{pubkey}", query, resolve)
        return JSONResponse(page)

    async def delete(self, request: Request) -> Response:
        """BUD-12: drop this pubkey's ownership; the bytes go with the last owner (never while
        another file still uses them)."""
        sha = split_blob(request.path_params["blob"])
        # Deleting is always per owner, so it always needs a token, whatever require_auth says.
        auth = await self.authorize(request, "delete", required=True)
        assert auth is not None
        require_covers(auth, sha)
        if await self.services.catalog.get(sha) is None:
            raise BlossomError(404, "blob not found")
        was_owner, deleted = await self.services.catalog.remove_owner(sha, auth.pubkey)
        if not was_owner:
            raise BlossomError(403, "this pubkey does not own the blob")
        message = "blob deleted" if deleted else "blob removed from your list (other owners keep it)"
        return JSONResponse({"message": message, "sha256": sha, "deleted": deleted})

    async def preflight(self, request: Request) -> Response:
        return Response(status_code=204, headers=preflight_headers())


def build_router(blossom: Blossom) -> APIRouter:
    router = APIRouter(route_class=BlossomRoute, tags=["blossom"])
    blob = "/{blob:blossom_blob}"
    router.add_api_route("/upload", blossom.upload, methods=["PUT"], name="blossom_upload")
    router.add_api_route(
        "/upload", blossom.upload_requirements, methods=["HEAD"], name="blossom_upload_check"
    )
    router.add_api_route("/mirror", blossom.mirror, methods=["PUT"], name="blossom_mirror")
    router.add_api_route("/report", blossom.report, methods=["PUT"], name="blossom_report")
    router.add_api_route("/list/{pubkey}", blossom.list_blobs, methods=["GET"], name="blossom_list")
    # One route per method: a shared GET+HEAD route gives OpenAPI one operation id twice.
    router.add_api_route(blob, blossom.get_blob, methods=["GET"], name="blossom_get")
    router.add_api_route(blob, blossom.get_blob, methods=["HEAD"], name="blossom_head")
    router.add_api_route(blob, blossom.delete, methods=["DELETE"], name="blossom_delete")
    for path in ("/upload", "/mirror", "/report", "/list/{pubkey}", blob):
        router.add_api_route(
            path, blossom.preflight, methods=["OPTIONS"], name="blossom_preflight", include_in_schema=False
        )
    return router
