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


async def test_report_set_is_capped(signer: Signer, monkeypatch: pytest.MonkeyPatch) -> None:
    import torrent_gateway.blossom.reports as reports

    monkeypatch.setattr(reports, "MAX_REPORTS", 3)
    state = MemoryStateStore()

    async def known(sha: str) -> bool:
        return True

    for i in range(5):
        event = signer.report((A, "spam"), now=NOW + i, content=f"report {i}")
        await store_report(state, event, [(A, "spam")], now=NOW + i, known=known)
    rows = await list_reports(state)
    assert [row["received"] for row in rows] == [NOW + 4, NOW + 3, NOW + 2]
