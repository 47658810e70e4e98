"""BUD-09 reports: verified NIP-56 events kept for the operators in the ``reports`` sorted set."""

from __future__ import annotations

import json

import pytest
from torrent_gateway.blossom.errors import BlossomError
from torrent_gateway.blossom.reports import REPORTS_KEY, list_reports, parse_report, store_report
from torrent_gateway.state.memory import MemoryStateStore

from .tokens import Signer, tamper_signature

NOW = 1_750_000_000
A, B, C = "aa" * 32, "bb" * 32, "cc" * 32


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def test_parse_report(signer: Signer) -> None:
    event = signer.report((A, "spam"), (B, "weird"), (A, "spam"), now=NOW)
    parsed, targets = parse_report(json.dumps(event).encode())
    assert parsed["id"] == event["id"]
    assert targets == [(A, "spam"), (B, "other")]


@pytest.mark.parametrize("case", ["not json", "bad sig", "wrong kind", "no x", "bad x"])
def test_bad_reports_are_400(signer: Signer, case: str) -> None:
    if case == "not json":
        body = b"{nope"
    elif case == "bad sig":
        body = json.dumps(tamper_signature(signer.report((A, "spam"), now=NOW))).encode()
    elif case == "wrong kind":
        body = json.dumps(signer.event(kind=1, tags=[["x", A, "spam"]], created_at=NOW)).encode()
    elif case == "no x":
        body = json.dumps(signer.event(kind=1984, tags=[["p", "ab" * 32]], created_at=NOW)).encode()
    else:
        body = json.dumps(signer.event(kind=1984, tags=[["x", "zz", "spam"]], created_at=NOW)).encode()
    with pytest.raises(BlossomError) as info:
        parse_report(body)
    assert info.value.status == 400


async def test_store_keeps_known_targets_once(signer: Signer) -> None:
    state = MemoryStateStore()

    async def known(sha: str) -> bool:
        return sha != C

    event = signer.report((A, "illegal"), (C, "spam"), now=NOW)
    parsed, targets = parse_report(json.dumps(event).encode())
    assert await store_report(state, parsed, targets, now=NOW + 1, known=known) == 1
    assert await store_report(state, parsed, targets, now=NOW + 2, known=known) == 0
    rows = await list_reports(state)
    assert len(rows) == 1 and await state.zcard(REPORTS_KEY) == 1
    assert rows[0]["sha256"] == A and rows[0]["reason"] == "illegal" and rows[0]["received"] == NOW + 1
    assert rows[0]["event"] == event
    only_unknown = signer.report((C, "spam"), now=NOW)
    with pytest.raises(BlossomError) as info:
        await store_report(state, only_unknown, [(C, "spam")], now=NOW, known=known)
    assert info.value.status == 404


async def test_full_report_set_refuses_new_reports_and_keeps_the_old(signer: Signer) -> None:
    import hashlib

    from torrent_gateway.config import ReportLimit

    limits = ReportLimit(max_stored=3, reports_per_minute=100)
    state = MemoryStateStore()

    async def known(sha: str) -> bool:
        return True

    blobs = [hashlib.sha256(bytes([i])).hexdigest() for i in range(5)]
    for i, blob in enumerate(blobs[:3]):
        event = signer.report((blob, "spam"), now=NOW + i, content=f"report {i}")
        assert (
            await store_report(state, event, [(blob, "spam")], now=NOW + i, known=known, limits=limits) == 1
        )
    flood = signer.report((blobs[3], "spam"), now=NOW + 3, content="flood")
    with pytest.raises(BlossomError) as info:
        await store_report(state, flood, [(blobs[3], "spam")], now=NOW + 3, known=known, limits=limits)
    assert info.value.status == 429 and "full" in info.value.reason
    rows = await list_reports(state)
    assert [row["received"] for row in rows] == [NOW + 2, NOW + 1, NOW]


async def test_one_report_per_reporter_and_blob_and_a_rate_per_reporter(signer: Signer) -> None:
    from torrent_gateway.config import ReportLimit

    limits = ReportLimit(max_stored=100, reports_per_minute=3)
    state = MemoryStateStore()

    async def known(sha: str) -> bool:
        return True

    first = signer.report((A, "spam"), now=NOW, content="first")
    again = signer.report((A, "malware"), now=NOW + 1, content="the same blob again")
    assert await store_report(state, first, [(A, "spam")], now=NOW, known=known, limits=limits) == 1
    assert await store_report(state, again, [(A, "malware")], now=NOW + 1, known=known, limits=limits) == 0
    third = signer.report((B, "spam"), now=NOW + 2)
    assert await store_report(state, third, [(B, "spam")], now=NOW + 2, known=known, limits=limits) == 1
    fourth = signer.report((C, "spam"), now=NOW + 3)
    with pytest.raises(BlossomError) as info:
        await store_report(state, fourth, [(C, "spam")], now=NOW + 3, known=known, limits=limits)
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "60"
    assert len(await list_reports(state)) == 2
