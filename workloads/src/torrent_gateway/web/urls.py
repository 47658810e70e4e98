"""Public URLs of a file: derived from configuration, or from the request when none is configured."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.requests import Request

from ..config import Settings
from ..ingest.torrent import magnet_link
from ..manifest import Manifest


def base_url(request: Request | None, settings: Settings) -> str:
    if settings.gateway.public_url:
        return settings.gateway.public_url
    if request is None:
        host = "localhost" if settings.gateway.host in ("0.0.0.0", "::") else settings.gateway.host
        return f"http://{host}:{settings.gateway.port}"
    return str(request.base_url).rstrip("/")


def tracker_urls(base: str, settings: Settings) -> list[str]:
    if not settings.tracker.enabled:
        return []
    announce_base = settings.tracker.public_url.rstrip("/") or base
    urls = [f"{announce_base}/announce"]
    if settings.tracker.udp:
        host = urlsplit(announce_base).hostname or "localhost"
        port = urlsplit(announce_base).port or (
            settings.tracker.port if settings.tracker.public_url else settings.gateway.port
        )
        if ":" in host:
            host = f"[{host}]"
        urls.append(f"udp://{host}:{port}/announce")
    return urls


def webseed_url(base: str, manifest: Manifest) -> str:
    # Single-file torrent: BEP 19 takes a URL not ending in "/" as the file itself.
    return f"{base}/api/webseed/{manifest.sha256}/{quote(manifest.name, safe='')}"


def file_links(request: Request | None, settings: Settings, manifest: Manifest) -> dict[str, str]:
    base = base_url(request, settings)
    blossom_base = settings.blossom.public_url.rstrip("/") or base
    links = {
        "page": f"{base}/#/file/{manifest.sha256}",
        "download": f"{base}/api/download/{manifest.sha256}",
        "torrent": f"{base}/api/torrent/{manifest.sha256}",
        "webseed": webseed_url(base, manifest),
        "magnet": magnet_link(
            manifest.infohash,
            manifest.name,
            manifest.size,
            tracker_urls(base, settings),
            [webseed_url(base, manifest)],
            torrent_url=f"{base}/api/torrent/{manifest.sha256}",
        ),
    }
    if settings.blossom.enabled:
        links["blossom"] = f"{blossom_base}/{manifest.sha256}"
    return links


def describe(request: Request | None, settings: Settings, manifest: Manifest) -> dict[str, object]:
    """The public JSON view of a file."""
    links = file_links(request, settings, manifest)
    return {
        "sha256": manifest.sha256,
        "name": manifest.name,
        "size": manifest.size,
        "type": manifest.mime_type,
        "kind": manifest.kind,
        "chunk_size": manifest.chunk_size,
        "chunks": len(manifest.chunks) if manifest.kind == "chunked" else 1,
        "infohash": manifest.infohash,
        "infohash_v2": manifest.infohash_v2,
        "magnet": links["magnet"],
        "created": manifest.created,
        "announce_dht": manifest.announce_dht,
        "owners": sorted(manifest.owners),
        "announcements": [a.model_dump() for a in manifest.announcements],
        "urls": links,
    }
