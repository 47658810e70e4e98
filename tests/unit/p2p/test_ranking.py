"""The peer coordinator's pure core: merging, proximity, responsiveness and the ranking."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.p2p.coordinator import (
    PeerBook,
    PeerCandidate,
    decode_endpoint,
    geo_proximity,
    merge_peers,
    normalise_ip,
    prefix_proximity,
    rank_peers,
    responsiveness_of,
)
from torrent_gateway.p2p.geo import GeoLocator, Location, distance_km, location_from_record


def peer(ip: str, port: int, *sources: str, seed: bool | None = None) -> PeerCandidate:
    return PeerCandidate(set(sources), ip, port, None, seed)


WEBSEED = PeerCandidate({"webseed"}, None, None, "http://gw/api/webseed/x/f.bin", True)


def test_merge_dedupes_by_endpoint_and_unites_sources() -> None:
    merged = merge_peers(
        [
            peer("10.0.0.1", 6881, "tracker", seed=True),
            peer("::ffff:10.0.0.1", 6881, "dht"),  # the same peer, IPv4-mapped
            peer("10.0.0.1", 6882, "dht"),
            peer("10.0.0.2", 6881, "tracker", seed=False),
            peer("10.0.0.2", 6881, "dht"),
            peer("not an ip", 1, "dht"),
            peer("10.0.0.3", 0, "dht"),
            WEBSEED,
            PeerCandidate({"webseed"}, None, None, WEBSEED.url, True),
        ]
    )
    by_key = {(p.ip, p.port, p.url): p for p in merged}
    assert len(merged) == 4
    first = by_key[("10.0.0.1", 6881, None)]
    assert first.sources == {"tracker", "dht"} and first.seed is True
    assert by_key[("10.0.0.1", 6882, None)].seed is None
    assert by_key[("10.0.0.2", 6881, None)].seed is False  # a leecher says the tracker; DHT knows nothing
    assert by_key[(None, None, WEBSEED.url)].sources == {"webseed"}


def test_prefix_proximity() -> None:
    assert prefix_proximity("192.168.1.10", "192.168.1.10") == 1.0
    assert prefix_proximity("192.168.1.10", "192.168.1.11") == 31 / 32
    assert prefix_proximity("10.0.0.1", "192.168.0.1") < prefix_proximity("10.0.0.1", "10.200.0.1")
    assert prefix_proximity("10.0.0.1", "2001:db8::1") == 0.0
    assert prefix_proximity("2001:db8::1", "2001:db8::2") > prefix_proximity("2001:db8::1", "2a00::1")


def test_responsiveness() -> None:
    assert responsiveness_of(None) == 0.5
    assert responsiveness_of(0) == 1.0
    assert responsiveness_of(100) == 0.5
    assert responsiveness_of(10) > responsiveness_of(50) > responsiveness_of(400)


def test_seeds_first_then_score_then_peers_before_the_webseed() -> None:
    peers = [
        peer("10.0.0.9", 1, "tracker", seed=False),
        peer("203.0.113.5", 2, "dht"),  # unknown role
        peer("198.51.100.7", 3, "tracker", seed=True),
        peer("10.0.0.7", 4, "tracker", seed=True),
        WEBSEED,
    ]
    ranked = rank_peers(peers, "10.0.0.1")
    roles = [r.peer.seed for r in ranked]
    assert roles == [True, True, True, None, False]
    # Among seeds, the one sharing the requester's /8 wins; the WebSeed's unknown proximity puts it
    # between; the far seed is last of the seeds.
    assert [r.peer.port or r.peer.url for r in ranked[:3]] == [4, WEBSEED.url, 3]


def test_measured_responsiveness_beats_unmeasured_at_equal_proximity() -> None:
    a, b, c = (
        peer("10.1.0.1", 1, "dht", seed=True),
        peer("10.1.0.2", 2, "dht", seed=True),
        peer("10.1.0.3", 3, "dht", seed=True),
    )
    rtts = {1: 400.0, 2: 5.0, 3: None}
    ranked = rank_peers([a, b, c], "192.0.2.1", rtt_ms=lambda p: rtts[p.port or 0])
    assert [r.peer.port for r in ranked] == [2, 3, 1]
    assert ranked[0].rtt_ms == 5.0
    assert ranked[0].score == pytest.approx(0.6 * (1 / 1.05) + 0.4 * ranked[0].proximity)


def test_ties_are_deterministic_and_peers_come_before_the_webseed() -> None:
    twin = PeerCandidate({"tracker"}, "192.0.2.50", 80, None, True)
    first = rank_peers([WEBSEED, twin], None)
    second = rank_peers([twin, WEBSEED], None)
    assert [r.peer.key for r in first] == [r.peer.key for r in second]
    assert first[0].peer is twin


@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 65535), st.sampled_from([True, False, None])),
        max_size=30,
    ),
    st.integers(0, 2**32 - 1),
)
def test_ranking_is_a_permutation_with_seeds_first(entries: list, requester: int) -> None:  # type: ignore[type-arg]
    import ipaddress

    peers = [peer(str(ipaddress.IPv4Address(ip)), port, "dht", seed=seed) for ip, port, seed in entries]
    ranked = rank_peers(peers, str(ipaddress.IPv4Address(requester)))
    assert sorted(id(r.peer) for r in ranked) == sorted(id(p) for p in peers)
    order = [0 if r.peer.seed is True else 1 if r.peer.seed is None else 2 for r in ranked]
    assert order == sorted(order)
    assert all(0.0 <= r.score <= 1.0 for r in ranked)


def test_geo_proximity_categories_and_distance() -> None:
    berlin = Location("EU", "DE", 52.52, 13.40, 3320)
    munich_same_as = Location("EU", "DE", 48.14, 11.58, 3320)
    munich_other_as = Location("EU", "DE", 48.14, 11.58, 680)
    paris = Location("EU", "FR", 48.85, 2.35, 3215)
    new_york = Location("NA", "US", 40.71, -74.0, 7922)
    scores = [geo_proximity(berlin, other) for other in (munich_same_as, munich_other_as, paris, new_york)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    assert geo_proximity(Location(asn=1), Location(asn=1)) == 1.0
    assert geo_proximity(Location(), Location(country="DE")) is None
    assert distance_km(berlin, paris) == pytest.approx(878, rel=0.02)


def test_location_from_maxmind_records() -> None:
    record = {
        "continent": {"code": "EU"},
        "country": {"iso_code": "DE"},
        "location": {"latitude": 52.5, "longitude": 13.4},
        "city": {"names": {"en": "Berlin"}},
    }
    assert location_from_record(record) == Location("EU", "DE", 52.5, 13.4, None)
    assert location_from_record({"autonomous_system_number": 64500}) == Location(asn=64500)
    assert location_from_record(None) is None
    assert location_from_record({"unrelated": 1}) is None


def test_geoip_database_drives_the_ranking(tmp_path: Path) -> None:
    """A real MaxMind DB file (written with mmdb-writer), read by maxminddb through GeoLocator."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoIP2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["198.51.100.0/24"]),
        {
            "continent": {"code": "EU"},
            "country": {"iso_code": "DE"},
            "location": {"latitude": 52.52, "longitude": 13.40},
            "autonomous_system_number": 3320,
        },
    )
    writer.insert_network(
        IPSet(["203.0.113.0/24"]),
        {
            "continent": {"code": "EU"},
            "country": {"iso_code": "DE"},
            "location": {"latitude": 48.14, "longitude": 11.58},
            "autonomous_system_number": 3320,
        },
    )
    writer.insert_network(
        IPSet(["192.0.2.0/24"]),
        {
            "continent": {"code": "NA"},
            "country": {"iso_code": "US"},
            "location": {"latitude": 40.71, "longitude": -74.0},
            "autonomous_system_number": 7922,
        },
    )
    path = tmp_path / "geo.mmdb"
    writer.to_db_file(str(path))

    locator = GeoLocator(path)
    try:
        assert locator.locate("203.0.113.9") == Location("EU", "DE", 48.14, 11.58, 3320)
        assert locator.locate("10.0.0.1") is None and locator.locate("garbage") is None
        # By address prefix the American peer (192.0.2.x) would be nearer to 198.51.100.1 than the
        # German one (203.0.113.x shares fewer leading bits); the database knows better.
        assert prefix_proximity("198.51.100.1", "192.0.2.1") > prefix_proximity("198.51.100.1", "203.0.113.1")
        ranked = rank_peers(
            [peer("192.0.2.1", 1, "dht", seed=True), peer("203.0.113.1", 2, "dht", seed=True)],
            "198.51.100.1",
            locate=locator.locate,
        )
        assert [r.peer.port for r in ranked] == [2, 1]
        assert ranked[0].location is not None and ranked[0].location.country == "DE"
        # Addresses the database does not know fall back to prefix proximity.
        unknown = rank_peers([peer("10.0.0.2", 3, "dht")], "10.0.0.1", locate=locator.locate)
        assert unknown[0].proximity == prefix_proximity("10.0.0.1", "10.0.0.2")
    finally:
        locator.close()


def test_peer_book_bounded_and_expiring() -> None:
    book = PeerBook(max_entries=2, ttl=60)
    book.observe("10.0.0.1", rtt_ms=12, seed=False, now=1000)
    book.observe("::ffff:10.0.0.2", rtt_ms=30, seed=True, now=1000)
    book.observe("10.0.0.3", rtt_ms=0, seed=True, now=1000)  # libtorrent's "not measured yet"
    assert book.rtt("10.0.0.2", now=1010) == 30
    assert book.rtt("10.0.0.1", now=1061) is None  # expired
    book.observe("10.0.0.4", rtt_ms=5, seed=False, now=1000)
    assert len(book) == 2 and book.rtt("10.0.0.1", now=1001) is None  # oldest went


def test_small_helpers() -> None:
    assert normalise_ip("::ffff:1.2.3.4") == "1.2.3.4" and normalise_ip("[::1]") == "::1"
    assert normalise_ip("nope") is None
    assert decode_endpoint(bytes([127, 0, 0, 1, 0x1A, 0xE1])) == ("127.0.0.1", 6881)
    assert decode_endpoint(bytes(16) + b"\x00\x50") == ("::", 80)
    assert decode_endpoint(b"\x00" * 5) is None
