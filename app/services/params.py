"""Request parameters (query strings, JSON bodies, CLI options) parsed and bounded in one place.

Every parser raises BadRequest naming the parameter, so bad input is a 400 with a reason, never a 500.
Integers are bounded at parse time: nothing bigger than SQLite's 64-bit integers ever reaches a query.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Sequence

from app.errors import BadRequest

MAX_INT = 2**63 - 1
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


def int_param(name: str, value: Any, low: int = -MAX_INT, high: int = MAX_INT) -> int:
    """A whole number between low and high (a JSON integer or its decimal text)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise invalid(name, f"'{name}' must be an integer", value=str(value)[:100])
    text = str(value).strip()
    if not text.lstrip("+-").isdigit() or len(text) > 20:
        raise invalid(name, f"'{name}' must be an integer", value=text[:100])
    number = int(text)
    if not low <= number <= high:
        bounds = f"between {low} and {high}" if high < MAX_INT else f"at least {low}"
        raise invalid(name, f"'{name}' must be {bounds}", value=text[:100])
    return number


def float_param(name: str, value: Any, low: float = 0.0, high: float = float(MAX_INT)) -> float:
    """A finite number between low and high."""
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else float("nan")
    except ValueError:
        raise invalid(name, f"'{name}' must be a number", value=str(value)[:100]) from None
    if number != number or not low <= number <= high:
        raise invalid(name, f"'{name}' must be a number between {low:g} and {high:g}", value=str(value)[:100])
    return number


def day_param(name: str, value: Any) -> date:
    """A calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise invalid(name, f"'{name}' must be a date as YYYY-MM-DD", value=str(value)[:100]) from None


def choice_param(name: str, value: Any, options: Sequence[str]) -> str:
    """One of options (case-insensitive)."""
    text = str(value).strip().lower()
    if text not in options:
        raise invalid(name, f"'{name}' must be one of: {', '.join(options)}", allowed=list(options))
    return text


def optional(args: Any, name: str) -> Any:
    """The raw value of args[name], or None when it is missing or blank."""
    value = args.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return value
