"""Telling the Nostr network about our files: a NIP-94 file metadata event (kind 1063) for
every new file, a NIP-35 torrent event (kind 2003) for the large ones published as torrents,
and a NIP-09 deletion (kind 5) of both when the file goes away. At start the server key also
describes itself with replaceable events, so a client that meets one of its announcements can
follow the key: a kind 0 profile, its NIP-65 relay list (kind 10002: where its events are
written) and its BUD-03 Blossom server list (kind 10063: where the blobs it names are served).

The event builders are pure (manifest + settings → event template). :class:`Announcer` is the
catalog hook: it signs the events with the server key, records them in the manifest as pending
and publishes them in a background task owned by the services, so an upload never waits for,
or fails because of, a relay. Per-relay results land in ``manifest.announcements`` (visible in
``/api/files/<sha256>``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..manifest import Announcement, Manifest
from ..web.urls import base_url, file_links, tracker_urls
from .keys import ServerKeys
from .relays import RelayOutcome, RelayPublisher

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

FILE_METADATA_KIND = 1063
TORRENT_KIND = 2003
DELETION_KIND = 5
PROFILE_KIND = 0
RELAY_LIST_KIND = 10002  # NIP-65
BLOSSOM_SERVER_LIST_KIND = 10063  # BUD-03

Template = dict[str, Any]


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def build_file_metadata(manifest: Manifest, settings: Settings, created_at: int) -> Template:
    """The NIP-94 kind 1063 template: url, m, x, ox, size, magnet, i, alt (+ Blossom fallback), and
    ``name``, which the original gateway's announcements carried and its readers look for."""
    links = file_links(None, settings, manifest)
    tags = [
        ["url", links["download"]],
        ["m", manifest.mime_type],
        ["x", manifest.sha256],
        ["ox", manifest.sha256],  # stored as uploaded: the original hash is the same
        ["size", str(manifest.size)],
        ["magnet", links["magnet"]],
        ["i", manifest.infohash],
        ["alt", f"File: {manifest.name} ({_human_size(manifest.size)})"],
        ["name", manifest.name],
    ]
    if "blossom" in links:
        tags.append(["fallback", links["blossom"]])
    return {"kind": FILE_METADATA_KIND, "content": manifest.name, "tags": tags, "created_at": created_at}


def build_torrent(manifest: Manifest, settings: Settings, created_at: int) -> Template:
    """The NIP-35 kind 2003 template: title, x (v1 infohash), file, tracker(s), t."""
    trackers = tracker_urls(base_url(None, settings), settings)
    category = manifest.mime_type.split("/", 1)[0] or "file"
    tags = [
        ["title", manifest.name],
        ["x", manifest.infohash],
        ["file", manifest.name, str(manifest.size)],
        *(["tracker", url] for url in trackers),
        ["t", category],
        ["alt", f"Torrent: {manifest.name}"],
    ]
    return {"kind": TORRENT_KIND, "content": manifest.name, "tags": tags, "created_at": created_at}


def build_deletion(announcements: list[Announcement], created_at: int) -> Template | None:
    """A NIP-09 deletion request for the events we published about a file that is gone."""
    if not announcements:
        return None
    tags = [["e", a.event_id] for a in announcements]
    tags += [["k", str(kind)] for kind in sorted({a.kind for a in announcements})]
    return {
        "kind": DELETION_KIND,
        "content": "file removed from this gateway",
        "tags": tags,
        "created_at": created_at,
    }


def announcement_templates(manifest: Manifest, settings: Settings, created_at: int) -> list[Template]:
    """What a new file is announced with: nothing for private files, 2003 only for torrents."""
    if manifest.private:
        return []
    templates = [build_file_metadata(manifest, settings, created_at)]
    if manifest.kind == "chunked":
        templates.append(build_torrent(manifest, settings, created_at))
    return templates


def identity_templates(settings: Settings, created_at: int) -> list[Template]:
    """The server key's self-description: profile (kind 0), relay list, Blossom server list."""
    base = base_url(None, settings)
    profile = {
        "name": settings.nostr.profile_name,
        "about": f"Files announced by the Torrent Gateway at {base}: over HTTP, as Blossom blobs "
        "and as torrents (WebSeed, tracker, DHT).",
        "website": base,
    }
    templates: list[Template] = [
        {"kind": PROFILE_KIND, "content": json.dumps(profile), "tags": [], "created_at": created_at},
        {
            # "write": the relays our events are published to; we read nothing addressed to us.
            "kind": RELAY_LIST_KIND,
            "content": "",
            "tags": [["r", relay, "write"] for relay in settings.nostr.relays],
            "created_at": created_at,
        },
    ]
    if settings.blossom.enabled:
        server = settings.blossom.public_url.rstrip("/") or base
        templates.append(
            {
                "kind": BLOSSOM_SERVER_LIST_KIND,
                "content": "",
                "tags": [["server", server]],
                "created_at": created_at,
            }
        )
    return templates


def summarise(outcomes: dict[str, RelayOutcome]) -> tuple[dict[str, str], bool]:
    relays = {relay: outcome.summary for relay, outcome in outcomes.items()}
    return relays, any(outcome.accepted for outcome in outcomes.values())


class Announcer:
    """The catalog hooks that sign and publish announcements; one per process."""

    def __init__(
        self,
        services: Services,
        keys: ServerKeys,
        publisher: RelayPublisher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.keys = keys
        self.publisher = publisher
        self.clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned_no_url = False

    def _can_announce(self) -> bool:
        if self.services.settings.gateway.public_url:
            return True
        if not self._warned_no_url:
            # Announcing http://localhost URLs to public relays helps nobody.
            log.warning("not announcing files on Nostr: gateway.public_url is not set")
            self._warned_no_url = True
        return False

    async def on_startup(self) -> None:
        """Publish the server key's profile, relay list and Blossom server list (replaceable
        events: every start, and every replica, replaces the last with the current settings)."""
        if not self._can_announce():
            return
        now = int(self.clock())
        events = [self.keys.sign(**t) for t in identity_templates(self.services.settings, now)]
        self._start(self._publish_identity(events), "nostr-identity")

    async def _publish_identity(self, events: list[dict[str, Any]]) -> None:
        results = await self.publisher.publish(events)
        for event in events:
            relays, _ = summarise(results[event["id"]])
            log.info("published the server's kind %d event %s: %s", event["kind"], event["id"], relays)

    async def on_added(self, manifest: Manifest) -> None:
        if not self._can_announce():
            return
        now = int(self.clock())
        events = [self.keys.sign(**t) for t in announcement_templates(manifest, self.services.settings, now)]
        if not events:
            return
        pending = [
            Announcement(
                kind=e["kind"], event_id=e["id"], relays={r: "pending" for r in self.publisher.relays}
            )
            for e in events
        ]
        if not await self._record(manifest.sha256, pending):
            return
        self._start(self._publish(manifest.sha256, events), f"nostr-announce-{manifest.sha256[:12]}")

    async def on_removed(self, manifest: Manifest) -> None:
        published = [a for a in manifest.announcements if a.published]
        template = build_deletion(published, int(self.clock()))
        if template is None:
            return
        event = self.keys.sign(**template)
        self._start(self.publisher.publish([event]), f"nostr-delete-{manifest.sha256[:12]}")

    def _start(self, coro: Any, name: str) -> None:
        task = self.services.spawn(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every publication started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _publish(self, sha256: str, events: list[dict[str, Any]]) -> None:
        async def progress(relay: str, outcomes: dict[str, RelayOutcome], final: bool) -> None:
            statuses = {}
            for event_id, outcome in outcomes.items():
                if outcome.accepted or final:
                    statuses[event_id] = outcome.summary
                else:
                    statuses[event_id] = f"retrying after {outcome.message}"
            await self._record_relay(sha256, relay, statuses)

        results = await self.publisher.publish(events, on_progress=progress)
        for event in events:
            relays, _ = summarise(results[event["id"]])
            log.info("announced %s as kind %d event %s: %s", sha256, event["kind"], event["id"], relays)

    async def _record_relay(self, sha256: str, relay: str, statuses: dict[str, str]) -> None:
        """Write one relay's current status for each of these events into the manifest."""
        catalog = self.services.catalog
        async with catalog.lock(sha256):
            manifest = await catalog.get(sha256)
            if manifest is None:
                return
            changed = False
            for announcement in manifest.announcements:
                status = statuses.get(announcement.event_id)
                if status is not None and announcement.relays.get(relay) != status:
                    announcement.relays[relay] = status
                    announcement.published = any(v == "ok" for v in announcement.relays.values())
                    changed = True
            if changed:
                await catalog.save(manifest)

    async def _record(self, sha256: str, announcements: list[Announcement]) -> bool:
        """Replace these events' entries in the manifest; False when the file no longer exists."""
        catalog = self.services.catalog
        async with catalog.lock(sha256):
            manifest = await catalog.get(sha256)
            if manifest is None:
                return False
            ids = {a.event_id for a in announcements}
            manifest.announcements = [
                a for a in manifest.announcements if a.event_id not in ids
            ] + announcements
            await catalog.save(manifest)
            return True
