"""Range header parsing: valid forms, ignorable junk, unsatisfiable requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torrent_gateway.web.ranges import ByteRange, RangeNotSatisfiable, parse_range


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
        # Coalesced: overlapping and adjacent ranges merge, in ascending order.
        ("bytes=4-5,0-1,1-2", 10, [ByteRange(0, 2), ByteRange(4, 5)]),
        ("bytes=0-3,4-6", 10, [ByteRange(0, 6)]),
        # More than 16 ranges, or more bytes than the file: the whole file.
        ("bytes=" + ",".join(["0-0"] * 17), 10, None),
        ("bytes=0-7,2-9", 10, None),
    ],
)
def test_parse(header: str | None, size: int, expected: list[ByteRange] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0", "bytes=-0,10-"])
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
    # Never more bytes than the file, never overlapping or out of order.
    assert sum(item.length for item in ranges or []) <= size
    for first, second in zip(ranges or [], (ranges or [])[1:], strict=False):
        assert first.end + 1 < second.start
