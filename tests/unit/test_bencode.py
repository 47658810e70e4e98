"""Bencoding (BEP 3): known vectors, every malformation refused, and properties over generated data.

The decoder takes untrusted bytes (uploaded .torrent files, tracker replies), so beyond
round-tripping it must never crash with anything but BencodeError, and it must accept only
canonical encodings: whatever it accepts re-encodes to the very same bytes (otherwise an
infohash computed over a re-encoded ``info`` dict differs from the one clients compute).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torrent_gateway.bencode import MAX_DEPTH, BencodeError, bdecode, bdecode_prefix, bencode

# Integers the bounded decoder reads (it looks for the closing "e" within 31 bytes).
BOUNDED_INT = st.integers(min_value=-(10**28), max_value=10**29)

values: st.SearchStrategy[Any] = st.recursive(
    BOUNDED_INT | st.binary(max_size=64),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.binary(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)

PROPERTY = settings(
    max_examples=150, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- known vectors (BEP 3) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (3, b"i3e"),
        (-3, b"i-3e"),
        (0, b"i0e"),
        (2**63, b"i9223372036854775808e"),
        (b"spam", b"4:spam"),
        (b"", b"0:"),
        ([b"spam", b"eggs"], b"l4:spam4:eggse"),
        ([], b"le"),
        ({}, b"de"),
        ({b"cow": b"moo", b"spam": b"eggs"}, b"d3:cow3:moo4:spam4:eggse"),
        ({b"spam": [b"a", b"b"]}, b"d4:spaml1:a1:bee"),
        ({b"a": {b"b": [1, {b"c": b""}]}}, b"d1:ad1:bli1ed1:c0:eeee"),
    ],
)
def test_known_vectors(value: Any, encoded: bytes) -> None:
    assert bencode(value) == encoded
    assert bdecode(encoded) == value


def test_encoder_conveniences() -> None:
    assert bencode("spam") == b"4:spam"
    assert bencode("é") == b"2:\xc3\xa9"  # length in bytes, UTF-8
    assert bencode((1, 2)) == b"li1ei2ee"
    assert bencode(bytearray(b"ab")) == b"2:ab"
    assert bencode(memoryview(b"ab")) == b"2:ab"
    # Keys are sorted by their raw bytes, whatever order they were given in and str or bytes.
    assert bencode({"b": 1, b"a": 2, "\u00e9": 3, "Z": 4}) == b"d1:Zi4e1:ai2e1:bi1e2:\xc3\xa9i3ee"


@pytest.mark.parametrize("value", [True, False, 1.5, None, {1: b"x"}, {None: 1}, object(), [b"ok", 2.0]])
def test_encoder_refuses_what_bencoding_cannot_express(value: Any) -> None:
    with pytest.raises(TypeError):
        bencode(value)


def test_encoder_refuses_a_key_given_twice() -> None:
    # "a" and b"a" are the same bencoded key; emitting both would produce bytes no decoder accepts.
    with pytest.raises(ValueError):
        bencode({"a": 1, b"a": 2})


def test_decoder_returns_bytes_for_strings_and_keys() -> None:
    assert bdecode(b"d3:key5:valuee") == {b"key": b"value"}


# -- malformations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i",
        b"ie",
        b"i-e",
        b"i-0e",
        b"i03e",
        b"i-03e",
        b"i1.5e",
        b"i12",
        b"iae",
        b"i--1e",
        b"4:spa",
        b"4spam",
        b"04:spam",
        b"-1:a",
        b"99999999999999999999:x",
        b"l",
        b"li1e",
        b"d",
        b"d1:a",
        b"d1:ai1e",
        b"di1ei2ee",  # integer key
        b"dl1:aei1ee",  # list key
        b"d1:bi1e1:ai2ee",  # unsorted keys
        b"d1:ai1e1:ai2ee",  # duplicate keys
        b"i1ei2e",  # two values
        b"4:spamX",  # trailing garbage
        b"x",
        b"e",
        b" 1:a",
        b"\x00",
    ],
)
def test_malformed_input_raises_bencode_error(data: bytes) -> None:
    with pytest.raises(BencodeError):
        bdecode(data)


@pytest.mark.parametrize(
    "data",
    [
        b"i+5e",  # a sign Python's int() accepts
        b"i 5e",  # whitespace int() strips
        b"i5 e",
        b"i\t-5e",
        b"i1_0e",  # underscores int() allows
        b"5_0:" + b"x" * 50,
        b"1 :a",
        b"+1:a",
        b"i\xd9\xa3e",  # non-ASCII digits
    ],
)
def test_non_canonical_numbers_are_refused(data: bytes) -> None:
    with pytest.raises(BencodeError):
        bdecode(data)


def test_nesting_is_bounded() -> None:
    ok = b"l" * 10 + b"e" * 10
    assert bdecode(ok) == [[[[[[[[[[]]]]]]]]]]
    for depth in (MAX_DEPTH + 2, 10_000):
        with pytest.raises(BencodeError):
            bdecode(b"l" * depth + b"e" * depth)
        with pytest.raises(BencodeError):
            bdecode(b"d1:a" * depth + b"e" * depth)


def test_input_length_is_bounded() -> None:
    with pytest.raises(BencodeError):
        bdecode(b"5:hello", max_length=6)
    assert bdecode(b"5:hello", max_length=7) == b"hello"


def test_integer_length_is_bounded() -> None:
    assert bdecode(bencode(10**29)) == 10**29
    with pytest.raises(BencodeError):
        bdecode(b"i" + b"9" * 200 + b"e")


def test_bdecode_prefix_reports_the_end() -> None:
    encoded = bencode({b"info": [1, b"x"]})
    assert bdecode_prefix(encoded + b"trailing") == ({b"info": [1, b"x"]}, len(encoded))
    with pytest.raises(BencodeError):
        bdecode_prefix(b"l1:a")


# -- properties ---------------------------------------------------------------------------------


@PROPERTY
@given(values)
def test_round_trip(value: Any) -> None:
    assert bdecode(bencode(value)) == value


@PROPERTY
@given(values)
def test_encoding_is_canonical(value: Any) -> None:
    encoded = bencode(value)
    assert bencode(bdecode(encoded)) == encoded


@PROPERTY
@given(values, st.binary(min_size=1, max_size=16))
def test_prefix_decoding_stops_at_the_value(value: Any, tail: bytes) -> None:
    encoded = bencode(value)
    assert bdecode_prefix(encoded + tail) == (value, len(encoded))


def _decode_or_refuse(data: bytes) -> Any:
    try:
        return bdecode(data)
    except BencodeError:
        return BencodeError


@PROPERTY
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    result = _decode_or_refuse(data)
    if result is not BencodeError:
        assert bencode(result) == data


@st.composite
def mutated_encodings(draw: st.DrawFn) -> bytes:
    """A valid encoding with a few bytes flipped, inserted or removed: near-misses hit more code."""
    data = bytearray(bencode(draw(values)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(list(b"0123456789ield:-+ _e\x00\xff")))
        if op == "insert":
            data.insert(pos, byte)
        elif data and pos < len(data):
            if op == "flip":
                data[pos] = byte
            else:
                del data[pos]
    return bytes(data)


@PROPERTY
@given(mutated_encodings())
def test_near_misses_decode_canonically_or_are_refused(data: bytes) -> None:
    result = _decode_or_refuse(data)
    if result is not BencodeError:
        # Anything accepted must be the one canonical spelling of its value.
        assert bencode(result) == data
