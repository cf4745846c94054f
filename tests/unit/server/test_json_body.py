"""Request bodies: the fast reader gives the standard library's values and errors for every body."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from impasto.server import json_body

TRICKY = [
    b'{"a": 1, "a": 2}',
    b"123456789012345678901234567890",
    b'{"seed": 18446744073709551616, "low": -9223372036854775809}',
    b'{"seed": 1234567890123456789}',
    b"[1e400, -1e400, 1.7976931348623157e309]",
    b'{"f": NaN, "g": Infinity, "h": -Infinity}',
    b'"\\ud800"',
    b'{"s": "\\u00e9\\ud83d\\ude00", "t": "\xc3\xa9"}',
    b"  [0.1, -0.0, 1.0000000000000000000001, 5e-324]  ",
]
BAD = [b"[1,2", b"\xef\xbb\xbf{}", b"", b"{'a': 1}", b"\xff\xfe{}", b'{"a": "\xff"}', b"[" * 5000 + b"]" * 5000]


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("raw", TRICKY)
def test_a_body_reads_as_the_standard_library_reads_it(raw):
    assert same(json_body.loads(raw), json.loads(raw.decode()))


def outcome(read, raw):
    try:
        return "value", read(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("raw", BAD)
def test_a_bad_body_gets_the_standard_library_error(raw):
    assert outcome(json_body.loads, raw) == outcome(lambda r: json.loads(r.decode()), raw)


def test_another_charset_is_read_in_that_charset():
    assert json_body.loads('{"name": "café"}'.encode("latin-1"), "latin-1") == {"name": "café"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_value_reads_back_as_the_standard_library_reads_it(value):
    raw = json.dumps(value).encode()
    read, plain = json_body.parse(raw)
    assert same(read, json.loads(raw))
    if plain:  # what orjson read, orjson writes back exactly (the store keeps such extra_data as orjson wrote it)
        assert same(json.loads(orjson.dumps(read)), read)
