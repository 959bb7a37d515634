"""JSON through orjson where it can, with the standard library's json for what orjson refuses.

Batch ingestion decodes every output line and the model's answer inside it and encodes every validated
result; orjson does each about three to ten times faster than json. Hostile input must still be read
as json reads it, so whatever orjson refuses (NaN and Infinity, lone surrogate escapes, nesting deeper
than 1024) goes to json instead: both functions accept what json accepts. One difference is left: orjson
reads an integer too big for 64 bits as a float, where json keeps it exact; no answer field needs one.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def loads(data: bytes | str) -> Any:
    """json.loads(data). Raises ValueError (UnicodeDecodeError for bytes that are not UTF-8) or
    RecursionError, as json.loads does."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value: Any) -> str:
    """Compact JSON text with non-ASCII characters kept as they are (NaN and infinities become null,
    so the text is always valid JSON)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError: big integers, non-string keys, lone surrogates, deep nesting
        return _COMPACT.encode(value)
