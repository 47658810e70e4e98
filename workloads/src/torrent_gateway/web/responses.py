"""Responses that carry user bytes: a stored file (or ranges of it) streamed from the content reader.

Every byte served through :class:`FileResponse` (the gateway's downloads and WebSeed, Blossom's
``/<sha256>``) came from an untrusted uploader, and it is served from the origin that holds the web
UI's sessions. So every such response says ``X-Content-Type-Options: nosniff`` and
``Content-Security-Policy: sandbox; default-src 'none'`` (a document it renders has an opaque
origin and may load nothing), and a type outside the passive allow-list of
:func:`~torrent_gateway.ingest.naming.is_passive_type` goes out as an attachment. Type and name
are cleaned again on the way out, so a value stored before they were validated cannot break a
response.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..ingest.naming import clean_media_type, is_passive_type, safe_file_name
from ..manifest import Manifest
from ..services import Services
from .ranges import (
    ByteRange,
    RangeNotSatisfiable,
    multipart_length,
    multipart_part_header,
    multipart_trailer,
    new_boundary,
    parse_range,
)

log = logging.getLogger(__name__)


USER_BYTES_CSP = "sandbox; default-src 'none'"
USER_BYTES_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": USER_BYTES_CSP,
}


def content_disposition(name: str, inline: bool = False) -> str:
    name = safe_file_name(name)
    ascii_name = name.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "") or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def user_bytes_disposition(manifest: Manifest, *, attachment: bool) -> str | None:
    """The Content-Disposition of a user file: always an attachment for an active type."""
    if attachment or not is_passive_type(manifest.mime_type):
        return content_disposition(manifest.name)
    return None


class FileResponse(Response):
    """Streams a stored file (or ranges of it) straight from the content reader."""

    def __init__(
        self,
        services: Services,
        manifest: Manifest,
        request: Request,
        *,
        disposition: str | None,
        cors: bool,
    ) -> None:
        self.services = services
        self.manifest = manifest
        self.head_only = request.method == "HEAD"
        self.ranges: list[ByteRange] | None = None
        self.boundary = ""
        headers = {
            "accept-ranges": "bytes",
            "etag": f'"{manifest.sha256}"',
            "cache-control": "public, max-age=31536000, immutable",
            "x-content-sha256": manifest.sha256,
            **USER_BYTES_HEADERS,
        }
        if disposition:
            headers["content-disposition"] = disposition
        if cors:
            headers["access-control-allow-origin"] = "*"
            headers["access-control-expose-headers"] = "Content-Length, Content-Range, ETag, Accept-Ranges"
        status = 200
        length = manifest.size
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and _etag_matches(if_none_match, manifest.sha256):
            super().__init__(status_code=304, headers=headers)
            self.body_length = 0
            return
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range and if_range.strip() != headers["etag"]:
            range_header = None
        try:
            self.ranges = parse_range(range_header, manifest.size)
        except RangeNotSatisfiable as exc:
            headers["content-range"] = f"bytes */{manifest.size}"
            headers["content-type"] = "application/json"
            body = b'{"detail":"range not satisfiable: ' + str(exc).encode() + b'"}'
            super().__init__(content=body, status_code=416, headers=headers)
            self.body_length = -1
            return
        self.media_type = self.part_media_type = content_type = clean_media_type(manifest.mime_type)
        if self.ranges is not None:
            status = 206
            if len(self.ranges) == 1:
                only = self.ranges[0]
                headers["content-range"] = f"bytes {only.start}-{only.end}/{manifest.size}"
                length = only.length
            else:
                self.boundary = new_boundary()
                length = multipart_length(self.boundary, content_type, self.ranges, manifest.size)
                content_type = f"multipart/byteranges; boundary={self.boundary}"
        headers["content-length"] = str(length)
        headers["content-type"] = content_type
        self.body_length = length
        super().__init__(status_code=status, headers=headers)
        # Response.__init__ sets content-length from an empty body; restore the real one.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(length).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.body_length == -1 or self.status_code == 304:
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.head_only:
            await send({"type": "http.response.body", "body": b""})
            return
        reader = self.services.reader
        manifest = self.manifest
        spans = [ByteRange(0, manifest.size - 1)] if self.ranges is None else self.ranges
        try:
            for span in spans:
                if self.boundary:
                    part = multipart_part_header(self.boundary, self.part_media_type, span, manifest.size)
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                async for data in reader.iter_range(manifest, span.start, span.end):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            tail = multipart_trailer(self.boundary) if self.boundary else b""
            await send({"type": "http.response.body", "body": tail})
        except OSError:
            # Headers are gone already: all we can do is cut the connection so the client sees a short body.
            log.exception("reading %s failed mid-response", manifest.sha256)
            raise
        else:
            if self.ranges is None or any(r.start == 0 for r in self.ranges):
                await count_download(self.services, manifest)


async def count_download(services: Services, manifest: Manifest) -> None:
    """One more download of the file (its statistics), counted when a body from its start is served."""
    try:
        await services.state.incr(f"stats:downloads:{manifest.sha256}")
    except Exception:  # a counter must never fail a download
        log.debug("download counter unavailable")


def _etag_matches(header: str, sha256: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or f'"{sha256}"' in tags
