"""Batch recordIds: what an output line maps back to, 11 alphanumerics (the safest form, docs/bedrock-facts.md
§4 Batch jobs). A whole-file record is a (run, type): the type letter in upper case and the run id in 10
base-36 digits. A segment's record is a (run, type, segment): the type letter in lower case, the run id in 7
digits and the segment index in 3. The two forms never meet."""
from __future__ import annotations

from typing import Any, NamedTuple

TYPE_CODES = {
    "summary": "S", "chapters": "C", "elements": "E", "waterfall_classification": "W",
    "search_metadata": "M", "combined": "X", "description": "D", "metadata": "T",
}
CODE_TYPES = {code: name for name, code in TYPE_CODES.items()}
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def record_id_for(run_id: int, analysis_type: str) -> str:
    """11 alphanumerics (the safest recordId form): a type letter + the run id in base 36."""
    digits = ""
    value = run_id
    while value:
        value, rem = divmod(value, 36)
        digits = _B36[rem] + digits
    return TYPE_CODES[analysis_type] + digits.rjust(10, "0")


def _base36(number: int, width: int) -> str:
    digits = ""
    value = number
    while value:
        value, rem = divmod(value, 36)
        digits = _B36[rem] + digits
    if len(digits) > width:
        raise ValueError(f"{number} does not fit in {width} base-36 digits")
    return digits.rjust(width, "0")


def segment_record_id_for(run_id: int, analysis_type: str, segment_index: int) -> str:
    """11 alphanumerics for one segment's record: the type letter in lower case (today's ids use upper case,
    so the two forms never meet), the run id in 7 base-36 digits and the segment index in 3."""
    return TYPE_CODES[analysis_type].lower() + _base36(run_id, 7) + _base36(segment_index, 3)


class RecordRef(NamedTuple):
    """What a recordId names: a run's type, and for a segmented run the segment (else None)."""

    run_id: int
    analysis_type: str
    segment: int | None = None


def parse_record_id(record_id: Any) -> RecordRef | None:
    """The (run id, type, segment) a recordId names, or None when it is not one of ours."""
    if not isinstance(record_id, str) or len(record_id) != 11 or not record_id.isalnum() or not record_id.isascii():
        return None
    code = record_id[0]
    try:
        if code in CODE_TYPES:
            return RecordRef(int(record_id[1:], 36), CODE_TYPES[code])
        if code.upper() in CODE_TYPES and code.islower():
            return RecordRef(int(record_id[1:8], 36), CODE_TYPES[code.upper()], int(record_id[8:], 36))
    except ValueError:
        return None
    return None
