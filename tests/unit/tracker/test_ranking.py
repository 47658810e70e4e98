"""Peer ranking: useful peers first, then network proximity; the logic's fast path agrees with it."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.tracker.logic import _order_is_ranked, rank_peers
from torrent_gateway.tracker.model import StoredPeer


def peer(ip: bytes, seeder: bool, n: int = 0) -> StoredPeer:
    return StoredPeer(b"-TT0001-%012d" % n, ip + b"\x1a\xe1", seeder)


ME = bytes([203, 0, 113, 9])


def test_seeds_first_for_a_leecher_then_nearest() -> None:
    far_leecher = peer(bytes([8, 8, 8, 8]), False, 1)
    far_seed = peer(bytes([9, 9, 9, 9]), True, 2)
    near_leecher = peer(bytes([203, 0, 113, 200]), False, 3)
    near_seed = peer(bytes([203, 0, 7, 1]), True, 4)
    nearer_seed = peer(bytes([203, 0, 113, 10]), True, 5)
    ranked = rank_peers([far_leecher, far_seed, near_leecher, near_seed, nearer_seed], ME)
    assert ranked == [nearer_seed, near_seed, far_seed, near_leecher, far_leecher]


def test_leechers_first_for_a_seed() -> None:
    seed = peer(bytes([203, 0, 113, 1]), True, 1)
    leecher = peer(bytes([1, 2, 3, 4]), False, 2)
    assert rank_peers([seed, leecher], ME, requester_is_seed=True) == [leecher, seed]


def test_short_prefixes_do_not_count_and_order_is_stable() -> None:
    a = peer(bytes([203, 1, 0, 1]), False, 1)  # shares only /8: no proximity
    b = peer(bytes([5, 0, 0, 1]), False, 2)
    assert rank_peers([b, a], ME) == [b, a]


def test_other_family_last_and_generic_peers() -> None:
    @dataclass
    class DhtPeer:
        address: bytes

    v6 = DhtPeer(bytes(16))
    v4 = DhtPeer(bytes([203, 0, 113, 50]))
    v4_far = DhtPeer(bytes([1, 1, 1, 1]))
    ranked = rank_peers([v6, v4_far, v4], ME, address=lambda p: p.address, is_seed=None)
    assert ranked == [v4, v4_far, v6]


addresses = st.sampled_from(
    [
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
        bytes([10, 0, 9, 9]),
        bytes([10, 7, 0, 1]),
        bytes([11, 0, 0, 1]),
        bytes([192, 168, 1, 1]),
    ]
)


@given(
    me=addresses,
    seeds=st.integers(0, 6),
    leechers=st.lists(addresses, max_size=8),
    seed_ips=st.lists(addresses, min_size=6, max_size=6),
)
def test_fast_path_never_changes_the_answer(
    me: bytes, seeds: int, leechers: list[bytes], seed_ips: list[bytes]
) -> None:
    # A store reply for a leecher: seeds first, then leechers.
    reply = [peer(ip, True, i) for i, ip in enumerate(seed_ips[:seeds])]
    reply += [peer(ip, False, 100 + i) for i, ip in enumerate(leechers)]
    compact = b"".join(p.endpoint for p in reply)
    if len(reply) > 1 and _order_is_ranked(compact, me, len(reply)):
        assert rank_peers(reply, me) == reply
