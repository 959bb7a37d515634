"""Reading stored model output defensively: a value of the wrong JSON type counts as empty, never as an error
(results are validated when stored, but older rows and hand-edited ones may differ)."""
from __future__ import annotations

from typing import Any


def obj(value: Any) -> dict[str, Any]:
    """value if it is a JSON object, else {}."""
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in value if it is a list, else []."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    """The strings in value if it is a list, else []."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
