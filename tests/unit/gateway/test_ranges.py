"""Range header parsing: valid forms, ignorable junk, unsatisfiable requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.gateway.ranges import ByteRange, RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, [ByteRange(0, 0)]),
        ("bytes=2-", 10, [ByteRange(2, 9)]),
        ("bytes=-3", 10, [ByteRange(7, 9)]),
        ("bytes=-30", 10, [ByteRange(0, 9)]),
        ("bytes=5-100", 10, [ByteRange(5, 9)]),
        ("bytes=0-1, 4-5", 10, [ByteRange(0, 1), ByteRange(4, 5)]),
        ("bytes=10-, 0-0", 10, [ByteRange(0, 0)]),
        ("items=0-1", 10, None),
        ("bytes=abc", 10, None),
        ("bytes=5-2", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_parse(header: str | None, size: int, expected: list[ByteRange] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header", ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=" + ",".join(["0-0"] * 33)]
)
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 10)


@given(st.text(max_size=200), st.integers(min_value=1, max_value=10**12))
def test_never_crashes_and_stays_in_bounds(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    for item in ranges or []:
        assert 0 <= item.start <= item.end < size
