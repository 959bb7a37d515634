"""app.utils.fastjson reads exactly what the standard json module reads, and writes valid compact JSON."""
from __future__ import annotations

import json

import pytest

from app.utils import fastjson

ACCEPTED = [
    b'{"recordId": "R1", "usage": {"inputTokens": 12, "outputTokens": 3.5}}',
    b'{"a": 1, "a": 2}',  # a repeated key: the last one wins in both
    b'{"tokens": NaN, "cap": Infinity, "floor": -Infinity}',  # orjson refuses these
    b'{"text": "lone \\ud800 surrogate"}',  # orjson refuses a lone surrogate escape
    '{"caf\u00e9": "\u2028 text"}'.encode("utf-8"),
]


@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "str"])
@pytest.mark.parametrize("data", ACCEPTED)
def test_loads_reads_what_json_reads(data, as_text):
    if as_text:
        data = data.decode("utf-8")
    # Compared as JSON text, since NaN != NaN.
    assert json.dumps(fastjson.loads(data), sort_keys=True) == json.dumps(json.loads(data), sort_keys=True)


def test_integers_over_64_bits_are_read_as_floats():
    assert fastjson.loads(b'{"big": 123456789012345678901234567890, "ok": 9007199254740993}') == {
        "big": 1.2345678901234568e29, "ok": 9007199254740993}


@pytest.mark.parametrize("data", [b"{not json", b"", b'{"a": 1} trailing', b'"\xff\xfe"'])
def test_loads_refuses_what_json_refuses(data):
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        fastjson.loads(data)


def test_deep_nesting_raises_recursion_error_like_json():
    data = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        fastjson.loads(data)


@pytest.mark.parametrize("value", [
    {"summary": {"text": "Caf\u00e9 \u2014 pool", "key_points": ["a", "b"]}, "score": 0.25, "n": 3},
    {"big": 123456789012345678901234567890},  # orjson refuses: the standard encoder writes it
    {1: "a non-string key"},  # likewise
])
def test_dumps_writes_compact_json_that_reads_back(value):
    text = fastjson.dumps(value)
    assert ", " not in text and ": " not in text.replace(": pool", "")
    assert json.loads(text) == json.loads(json.dumps(value))
    assert "\\u" not in text  # non-ASCII kept as it is


def test_dumps_writes_non_finite_numbers_as_null():
    assert json.loads(fastjson.dumps({"x": float("nan"), "y": float("inf")})) == {"x": None, "y": None}
