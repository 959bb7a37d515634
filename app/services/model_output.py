"""One model answer parsed, validated and encoded for storing, without touching the database (batch ingestion
and segment answers do this in bulk, before they take the write lock)."""
from __future__ import annotations

from typing import Any, NamedTuple

from app.db import analysis as analysis_db
from app.nova.parser import ModelOutputError, parse_model_output


class PreparedOutput(NamedTuple):
    """One model answer parsed, validated and encoded for analysis_results, or why it is unusable."""

    ok: bool
    tokens_input: int
    tokens_output: int
    result_json: str | None = None  # the validated result, encoded as analysis_db.store_result stores it
    truncated: bool = False
    stop_reason: str | None = None
    warnings_json: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def prepare_model_output(body: Any, analysis_type: str, *, media_type: str, duration_seconds: float | None,
                         options: dict[str, Any]) -> PreparedOutput:
    """Parse and validate one model answer without touching the database (batch ingestion does this in bulk)."""
    try:
        parsed = parse_model_output(body, analysis_type, media_type=media_type,
                                    duration_seconds=duration_seconds, options=options)
    except ModelOutputError as exc:
        return PreparedOutput(False, getattr(exc, "input_tokens", 0) or 0, getattr(exc, "output_tokens", 0) or 0,
                              error_code=exc.code, error_message=exc.message)
    # combined is stored as one row holding its five parts; every other type as itself
    result = parsed.results if analysis_type == "combined" else parsed.results[analysis_type]
    return PreparedOutput(True, parsed.input_tokens, parsed.output_tokens, analysis_db.encode_result(result),
                          parsed.truncated, parsed.stop_reason, analysis_db.encode_warnings(parsed.warnings))
