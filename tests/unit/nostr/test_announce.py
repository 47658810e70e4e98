"""Announcement builders: the NIP-94 and NIP-35 tags a manifest turns into, what is not announced,
and the server key's own profile, NIP-65 relay list and BUD-03 server list."""

from __future__ import annotations

import json
from pathlib import Path

from torrent_gateway.config import Settings, load_settings
from torrent_gateway.manifest import Announcement, Manifest
from torrent_gateway.nostr.announce import announcement_templates, build_deletion, identity_templates
from torrent_gateway.nostr.relays import RelayOutcome, is_retryable

SHA = "ab" * 32
INFOHASH = "cd" * 20


def manifest(kind: str = "chunked", private: bool = False) -> Manifest:
    return Manifest(
        sha256=SHA,
        size=5 * 1024 * 1024,
        name="talk video.mp4",
        mime_type="video/mp4",
        kind=kind,  # type: ignore[arg-type]
        chunk_size=2 * 1024 * 1024,
        chunks=["ee" * 32] * 3 if kind == "chunked" else [],
        piece_length=2 * 1024 * 1024,
        infohash=INFOHASH,
        private=private,
    )


def settings(tmp_path: Path) -> Settings:
    return load_settings(
        None,
        storage={"path": str(tmp_path)},
        gateway={"public_url": "https://gw.example"},
        tracker={"public_url": "https://tracker.example"},
    )


def tags_of(template: dict[str, object]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for tag in template["tags"]:  # type: ignore[attr-defined]
        out.setdefault(tag[0], []).append(tag[1:])
    return out


def test_file_metadata_event_carries_nip94_tags(tmp_path: Path) -> None:
    file_event, torrent_event = announcement_templates(manifest(), settings(tmp_path), 1_700_000_000)
    assert file_event["kind"] == 1063 and file_event["created_at"] == 1_700_000_000
    assert file_event["content"] == "talk video.mp4"
    tags = tags_of(file_event)
    assert tags["url"] == [[f"https://gw.example/api/download/{SHA}"]]
    assert tags["m"] == [["video/mp4"]] and tags["x"] == [[SHA]] and tags["ox"] == [[SHA]]
    assert tags["size"] == [[str(5 * 1024 * 1024)]] and tags["i"] == [[INFOHASH]]
    assert tags["magnet"][0][0].startswith(f"magnet:?xt=urn:btih:{INFOHASH}&dn=talk%20video.mp4")
    assert tags["alt"] == [["File: talk video.mp4 (5.0 MiB)"]]
    assert tags["fallback"] == [[f"https://gw.example/{SHA}"]]


def test_torrent_event_carries_nip35_tags(tmp_path: Path) -> None:
    _, torrent_event = announcement_templates(manifest(), settings(tmp_path), 1_700_000_000)
    assert torrent_event["kind"] == 2003
    tags = tags_of(torrent_event)
    assert tags["title"] == [["talk video.mp4"]] and tags["x"] == [[INFOHASH]]
    assert tags["file"] == [["talk video.mp4", str(5 * 1024 * 1024)]]
    assert tags["tracker"] == [["https://tracker.example/announce"], ["udp://tracker.example:6969/announce"]]
    assert tags["t"] == [["video"]]


def test_blobs_get_no_torrent_event_and_private_files_nothing(tmp_path: Path) -> None:
    only = announcement_templates(manifest(kind="blob"), settings(tmp_path), 1)
    assert [t["kind"] for t in only] == [1063]
    assert announcement_templates(manifest(private=True), settings(tmp_path), 1) == []


def test_server_key_describes_itself_and_where_its_events_and_blobs_are(tmp_path: Path) -> None:
    configured = load_settings(
        None,
        storage={"path": str(tmp_path)},
        gateway={"public_url": "https://gw.example"},
        nostr={"relays": ["wss://relay.one", "wss://relay.two"], "profile_name": "Example files"},
        blossom={"public_url": "https://blobs.example/"},
    )
    profile, relay_list, servers = identity_templates(configured, 1_700_000_000)
    assert profile["kind"] == 0 and profile["tags"] == []
    assert json.loads(profile["content"]) == {
        "name": "Example files",
        "about": "Files announced by the Torrent Gateway at https://gw.example: over HTTP, as Blossom "
        "blobs and as torrents (WebSeed, tracker, DHT).",
        "website": "https://gw.example",
    }
    assert relay_list["kind"] == 10002 and relay_list["content"] == ""
    assert relay_list["tags"] == [["r", "wss://relay.one", "write"], ["r", "wss://relay.two", "write"]]
    assert servers["kind"] == 10063 and servers["tags"] == [["server", "https://blobs.example"]]
    assert {t["created_at"] for t in (profile, relay_list, servers)} == {1_700_000_000}

    # Blossom served by the gateway itself: the gateway's URL; Blossom off: no server list.
    assert identity_templates(settings(tmp_path), 1)[2]["tags"] == [["server", "https://gw.example"]]
    without_blossom = settings(tmp_path).model_copy(
        update={"blossom": settings(tmp_path).blossom.model_copy(update={"enabled": False})}
    )
    assert [t["kind"] for t in identity_templates(without_blossom, 1)] == [0, 10002]


def test_deletion_names_published_events_and_kinds() -> None:
    announcements = [Announcement(kind=1063, event_id="1" * 64), Announcement(kind=2003, event_id="2" * 64)]
    template = build_deletion(announcements, 5)
    assert template is not None and template["kind"] == 5
    assert template["tags"] == [["e", "1" * 64], ["e", "2" * 64], ["k", "1063"], ["k", "2003"]]
    assert build_deletion([], 5) is None


def test_retry_policy_follows_the_relay_prefixes() -> None:
    assert is_retryable("rate-limited: slow down") and is_retryable("error: database busy")
    for final in (
        "invalid: bad signature",
        "blocked: no",
        "pow: 20 bits",
        "duplicate: have it",
        "restricted: x",
    ):
        assert not is_retryable(final)
    assert RelayOutcome(True, "duplicate: exists", 1).summary == "ok"
    assert RelayOutcome(False, "", 2).summary == "refused"
