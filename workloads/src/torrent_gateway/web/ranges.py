"""HTTP Range requests (RFC 9110 §14): parsing, and the multipart/byteranges framing.

Pure functions over untrusted header text: a bounded number of ranges, no overflow, and a
clear distinction between "ignore the header" (syntactically invalid → full response) and
"unsatisfiable" (→ 416).

A Range header must never make us send more than the file: overlapping and adjacent ranges are
coalesced (RFC 9110 §14.2 lets a server do so), and a header asking for more than
:data:`MAX_RANGES` ranges, or for more bytes in total than the file holds, is answered with the
whole file (200), as nginx's ``max_ranges`` does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MAX_RANGES = 16
MAX_HEADER = 4096


class RangeNotSatisfiable(Exception):
    """No requested range overlaps the representation (or too many were asked for)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> list[ByteRange] | None:
    """Ranges to serve, or None for the whole representation (no header, or an invalid one)."""
    if not header:
        return None
    if len(header) > MAX_HEADER:
        raise RangeNotSatisfiable("Range header too long")
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > MAX_RANGES:
        return None
    ranges: list[ByteRange] = []
    for part in parts:
        first, dash, last = part.partition("-")
        if not dash:
            return None
        first, last = first.strip(), last.strip()
        if (first and not first.isdigit()) or (last and not last.isdigit()) or (not first and not last):
            return None
        if len(first) > 19 or len(last) > 19:
            return None
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None
            if start >= size:
                continue
            ranges.append(ByteRange(start, min(end, size - 1)))
        else:
            suffix = int(last)
            if suffix == 0:
                continue
            ranges.append(ByteRange(max(size - suffix, 0), size - 1))
    if not ranges:
        raise RangeNotSatisfiable("no requested range overlaps the content")
    if len(ranges) > 1 and sum(r.length for r in ranges) > size:
        return None
    return coalesce(ranges)


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Overlapping or adjacent ranges merged, in ascending order (a single range stays as asked)."""
    if len(ranges) < 2:
        return ranges
    merged: list[ByteRange] = []
    for current in sorted(ranges, key=lambda r: r.start):
        if merged and current.start <= merged[-1].end + 1:
            last = merged.pop()
            current = ByteRange(last.start, max(last.end, current.end))
        merged.append(current)
    return merged


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_part_header(boundary: str, content_type: str, byte_range: ByteRange, size: int) -> bytes:
    return (
        f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
        f"Content-Range: bytes {byte_range.start}-{byte_range.end}/{size}\r\n\r\n"
    ).encode()


def multipart_trailer(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


def multipart_length(boundary: str, content_type: str, ranges: list[ByteRange], size: int) -> int:
    total = len(multipart_trailer(boundary))
    for byte_range in ranges:
        total += len(multipart_part_header(boundary, content_type, byte_range, size)) + byte_range.length
    return total
