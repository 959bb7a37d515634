"""Request parameters (query strings, JSON bodies, CLI options) parsed and bounded in one place.

Every parser raises BadRequest naming the parameter, so bad input is a 400 with a reason, never a 500.
Integers are bounded at parse time: nothing bigger than SQLite's 64-bit integers ever reaches a query
(a bigger Python int makes sqlite3 raise OverflowError). Path ids go through int_param too, by the URL
converter the factory registers for `<int:...>`.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Sequence

import orjson

from app.errors import BadRequest

MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
# How deeply a JSON body may nest. No request of this API nests more than a few levels; the cap keeps
# every walk over a body (ours, and the handlers') far from Python's recursion limit.
MAX_JSON_DEPTH = 64
_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: int() also reads other scripts' digits
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def invalid(name: str, message: str, **details: Any) -> BadRequest:
    return BadRequest(message, code="invalid_parameter", details={"parameter": name, **details})


def bool_param(name: str, value: Any) -> bool:
    """true/false, 1/0, yes/no, on/off (or a JSON boolean)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise invalid(name, f"'{name}' must be true or false")


def json_bool(name: str, value: Any) -> bool:
    """A JSON boolean and nothing else: in a JSON body "yes" or 1 is a mistake, not a way of saying true."""
    if not isinstance(value, bool):
        raise invalid(name, f"'{name}' must be true or false")
    return value


def int_param(name: str, value: Any, low: int = -MAX_INT, high: int = MAX_INT) -> int:
    """A whole number between low and high (a JSON integer or its decimal text)."""
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
        raise invalid(name, f"'{name}' must be an integer", value=str(value)[:100])
    text = str(value).strip()
    if not _INTEGER.fullmatch(text):
        raise invalid(name, f"'{name}' must be an integer", value=text[:100])
    # Past 19 digits a number is out of any 64-bit range: refused without converting 10,000 digits.
    significant = text.lstrip("+-").lstrip("0")
    number = int(text) if len(significant) <= 19 else (MIN_INT - 1 if text[0] == "-" else MAX_INT + 1)
    if not low <= number <= high:
        bounds = f"at least {low}" if number < low and high == MAX_INT else f"between {low} and {high}"
        raise invalid(name, f"'{name}' must be {bounds}", value=text[:100])
    return number


def id_list(name: str, value: Any) -> list[int]:
    """A non-empty JSON list of row ids (JSON integers, each through int_param), duplicates dropped."""
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise invalid(name, f"'{name}' must be a list of integers")
    if not value:
        raise invalid(name, f"'{name}' is empty")
    return list(dict.fromkeys(int_param(name, i, 1) for i in value))


def float_param(name: str, value: Any, low: float = 0.0, high: float = float(MAX_INT)) -> float:
    """A finite number between low and high."""
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else float("nan")
    except ValueError:
        raise invalid(name, f"'{name}' must be a number", value=str(value)[:100]) from None
    if number != number or not low <= number <= high:
        raise invalid(name, f"'{name}' must be a number between {low:g} and {high:g}", value=str(value)[:100])
    return number


def day_param(name: str, value: Any, low: date = date.min, high: date = date.max) -> date:
    """A calendar day as YYYY-MM-DD, between low and high."""
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        raise invalid(name, f"'{name}' must be a date as YYYY-MM-DD", value=str(value)[:100]) from None
    if not low <= day <= high:
        raise invalid(name, f"'{name}' must be a date between {low.isoformat()} and {high.isoformat()}",
                      value=day.isoformat())
    return day


def choice_param(name: str, value: Any, options: Sequence[str]) -> str:
    """One of options (case-insensitive)."""
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in options:
        raise invalid(name, f"'{name}' must be one of: {', '.join(options)}", allowed=list(options))
    return text


def text_param(name: str, value: Any, max_chars: int) -> str:
    """A string (not a list or an object: `{"q": ["a"]}` is a mistake, not a query), cut to max_chars."""
    if not isinstance(value, str):
        raise invalid(name, f"'{name}' must be a string")
    return value[:max_chars]


def optional(args: Any, name: str) -> Any:
    """The raw value of args[name], or None when it is missing or blank."""
    value = args.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value


def json_document(data: bytes | str) -> Any:
    """A request body parsed as strict JSON (RFC 8259), or BadRequest `invalid_json`.

    orjson refuses what the standard library lets through: NaN and Infinity (not JSON, and they turn into
    500s wherever a number is used), lone surrogate escapes (no file system or UTF-8 column takes them) and
    nesting past 1024 levels (json.loads recurses and raises RecursionError long before). We then cap
    nesting at MAX_JSON_DEPTH and bound every integer to 64 bits, without recursion.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}", code="invalid_json",
                         details={"reason": str(exc)}) from None
    _check_json(value)
    return value


def _check_json(value: Any) -> None:
    if type(value) is int and not MIN_INT <= value <= MAX_INT:
        raise BadRequest(f"the request body is a number out of range: integers must be between {MIN_INT} and "
                         f"{MAX_INT}", code="invalid_json")
    if not isinstance(value, (dict, list)):
        return
    stack: list[tuple[Any, int, tuple]] = [(value, 1, ())]
    while stack:
        container, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"the request body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json",
                             details={"max_depth": MAX_JSON_DEPTH})
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1, (*path, key)))
            elif type(item) is int and not MIN_INT <= item <= MAX_INT:
                where = _json_path((*path, key))
                raise invalid(str(path[0] if path else key), f"'{where}' is out of range: integers must be "
                              f"between {MIN_INT} and {MAX_INT}", path=where)


def _json_path(path: tuple) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text
