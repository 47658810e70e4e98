"""BUD-04 mirroring: fetching a blob from another server's URL, safely.

A mirror request makes *us* open a connection the client chose, so the target is checked
after DNS resolution: private, loopback, link-local, multicast, reserved and unspecified
addresses (IPv4, IPv6 and IPv4-mapped IPv6) are refused unless ``mirror_allow_private``
is set. The connection then goes to the very address that was checked (the URL's host is
kept in the ``Host`` header and as the TLS server name), so a DNS answer that changes between
the check and the connect cannot redirect us. Redirects are followed by hand, each hop
checked the same way. The body is streamed to the caller's sink; the size cap is enforced
from ``Content-Length`` and again while reading; one deadline bounds the whole fetch.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

from ..netguard import NotPublic, Unresolvable, is_public_address, resolve_checked
from .errors import BlossomError

__all__ = ["MAX_REDIRECTS", "Origin", "check_url", "is_public_address", "open_origin", "resolve_target"]

MAX_REDIRECTS = 5
MAX_URL_CHARS = 4096
READ_BLOCK = 1024 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; 400 for anything else."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise BlossomError(400, 'mirror body must be JSON {"url": "http(s)://..."}')
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlossomError(400, "mirror url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlossomError(400, "mirror url must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise BlossomError(400, "mirror url must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve_target(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to (see :func:`torrent_gateway.netguard.resolve_checked`)."""
    try:
        return await resolve_checked(host, port, allow_private=allow_private)
    except Unresolvable:
        raise BlossomError(502, f"mirror origin {host} could not be resolved") from None
    except NotPublic as exc:
        raise BlossomError(
            403, f"refusing to mirror from {host}: {exc.address} is a private, loopback or reserved address"
        ) from None


@dataclass
class Origin:
    """An open origin response: its final URL, declared type and length, and its body."""

    url: str
    content_type: str | None
    content_length: int | None
    response: httpx.Response
    max_size: int

    @property
    def file_name(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for data in self.response.aiter_bytes(READ_BLOCK):
                received += len(data)
                if received > self.max_size:
                    raise BlossomError(413, f"mirrored blob exceeds the limit of {self.max_size} bytes")
                yield data
        except httpx.HTTPError as exc:
            raise BlossomError(502, f"mirror origin failed while sending: {type(exc).__name__}") from None


@contextlib.asynccontextmanager
async def open_origin(
    url: str, *, allow_private: bool, step_timeout: float, max_size: int
) -> AsyncIterator[Origin]:
    """Connect (following up to MAX_REDIRECTS checked redirects) and yield the 200 response.

    The caller bounds the whole transfer with its own deadline; ``step_timeout`` bounds each
    network step (connect, each read).
    """
    limits = httpx.Timeout(step_timeout)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=limits) as client:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port = check_url(current)
            address = await resolve_target(host, port, allow_private=allow_private)
            request_url = httpx.URL(current).copy_with(host=address)
            netloc = urlsplit(current).netloc.rsplit("@", 1)[-1]
            extensions = {"sni_hostname": host} if scheme == "https" else {}
            request = client.build_request(
                "GET", request_url, headers={"Host": netloc, "Accept": "*/*"}, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise BlossomError(502, f"mirror origin {host} failed: {type(exc).__name__}") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = str(httpx.URL(current).join(location))
                    continue
                if response.status_code != 200:
                    raise BlossomError(502, f"mirror origin answered HTTP {response.status_code}")
                length_header = response.headers.get("content-length")
                length = int(length_header) if length_header and length_header.isdigit() else None
                if length is not None and length > max_size:
                    raise BlossomError(
                        413, f"mirrored blob of {length} bytes exceeds the limit of {max_size} bytes"
                    )
                yield Origin(
                    url=current,
                    content_type=response.headers.get("content-type"),
                    content_length=length,
                    response=response,
                    max_size=max_size,
                )
                return
            finally:
                await response.aclose()
        raise BlossomError(502, f"mirror origin redirected more than {MAX_REDIRECTS} times")
