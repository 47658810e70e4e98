"""Bencoding (BEP 3): the wire format of metainfo files and tracker replies.

Decoding takes untrusted bytes, so it is bounded: nesting depth and input length are
capped, integers must be canonical, and any malformation raises :class:`BencodeError`.
"""

from __future__ import annotations

from typing import Any

Bencodable = int | bytes | str | list[Any] | dict[Any, Any]
MAX_DEPTH = 64


class BencodeError(ValueError):
    """The bytes are not valid bencoding."""


def bencode(value: Any) -> bytes:
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, str):
        raw = value.encode()
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        items = [(_key_bytes(k), v) for k, v in value.items()]
        items.sort(key=lambda kv: kv[0])
        if any(items[i][0] == items[i + 1][0] for i in range(len(items) - 1)):
            raise ValueError("the same key given twice (as str and bytes)")
        for key, item in items:
            out.append(b"%d:" % len(key))
            out.append(key)
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"dictionary keys must be str or bytes, not {type(key).__name__}")


def bdecode(data: bytes, *, max_length: int = 64 * 1024 * 1024) -> Any:
    """Decode one complete value; dict keys come back as bytes."""
    if len(data) > max_length:
        raise BencodeError("input too long")
    try:
        value, end = _decode(memoryview(data), 0, 0)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BencodeError):
            raise
        raise BencodeError(f"malformed bencoding: {exc}") from None
    if end != len(data):
        raise BencodeError("trailing bytes after value")
    return value


def bdecode_prefix(data: bytes) -> tuple[Any, int]:
    """Decode the first value and return it with the offset where it ended."""
    try:
        return _decode(memoryview(data), 0, 0)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BencodeError):
            raise
        raise BencodeError(f"malformed bencoding: {exc}") from None


def _decode(data: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("nesting too deep")
    lead = data[pos]
    if lead == ord("i"):
        end = bytes(data[pos + 1 : pos + 32]).index(b"e") + pos + 1
        digits = bytes(data[pos + 1 : end])
        magnitude = digits[1:] if digits.startswith(b"-") else digits
        if not magnitude or not _is_ascii_digits(magnitude) or (magnitude[0:1] == b"0" and digits != b"0"):
            raise BencodeError("non-canonical integer")
        return int(digits), end + 1
    if lead == ord("l"):
        pos += 1
        items: list[Any] = []
        while data[pos] != ord("e"):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos + 1
    if lead == ord("d"):
        pos += 1
        result: dict[bytes, Any] = {}
        previous: bytes | None = None
        while data[pos] != ord("e"):
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError("dictionary key is not a string")
            if previous is not None and key <= previous:
                raise BencodeError("dictionary keys not sorted or duplicated")
            previous = key
            result[key], pos = _decode(data, pos, depth + 1)
        return result, pos + 1
    if ord("0") <= lead <= ord("9"):
        colon = bytes(data[pos : pos + 21]).index(b":") + pos
        digits = bytes(data[pos:colon])
        if not _is_ascii_digits(digits) or (digits[0:1] == b"0" and len(digits) > 1):
            raise BencodeError("non-canonical string length")
        length = int(digits)
        start = colon + 1
        if start + length > len(data):
            raise BencodeError("string runs past the end")
        return bytes(data[start : start + length]), start + length
    raise BencodeError(f"unexpected byte {lead!r} at {pos}")


def _is_ascii_digits(raw: bytes) -> bool:
    # int() also accepts spaces, underscores and other Unicode digits; bencoding allows none of them.
    return bool(raw) and all(0x30 <= byte <= 0x39 for byte in raw)
