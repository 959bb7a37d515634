"""Turn a Nova response body (InvokeModel body or batch modelOutput) into validated results."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import json_repair

from app.nova.schemas import ModelOutputError, validate_result
from app.utils import fastjson

__all__ = ["ModelOutputError", "ParsedOutput", "parse_model_output", "read_usage"]

log = logging.getLogger(__name__)

RAW_TEXT_CAP = 20_000
# Far above any real answer (maxTokens <= 10k tokens); bounds the work done on hostile output.
MAX_PARSE_CHARS = 1_000_000
# json_repair slows down sharply on long broken text (about 1 s at 200k chars, 26 s at 900k).
MAX_REPAIR_CHARS = 200_000
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_-]*[ \t]*\r?\n?")


@dataclass
class ParsedOutput:
    """Validated results of one model call plus what the caller should know about it."""

    results: dict[str, dict]
    truncated: bool
    stop_reason: str | None
    input_tokens: int
    output_tokens: int
    raw_text: str
    warnings: list[str] = field(default_factory=list)
    repaired: bool = False


def _token_count(usage: dict, *names: str) -> int:
    """A token count under any of names, as a non-negative int (0 when absent or odd)."""
    for name in names:
        value = usage.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return 0


def read_usage(body: Any) -> tuple[int, int]:
    """(input_tokens, output_tokens) from usage, accepting camelCase or snake_case."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    return (_token_count(usage, "inputTokens", "input_tokens"),
            _token_count(usage, "outputTokens", "output_tokens"))


def _first_text(body: dict) -> str | None:
    """The first text block of output.message.content (reasoning blocks may come before it)."""
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            return block["text"]
    return None


def _strip_fences(text: str) -> str:
    """The inside of the first Markdown code fence (closed or cut off), or the text unchanged."""
    if "```" not in text:  # every fence starts so; a plain find is much faster than the regex search
        return text.strip()
    match = _FENCE.search(text)
    if not match:
        return text.strip()
    inner = text[match.end():]
    close = inner.find("```")
    return (inner[:close] if close >= 0 else inner).strip()


def _decode(text: str) -> tuple[Any, bool, list[str]]:
    """Parse JSON strictly, then the first object amid prose, then by repair; (value, repaired, warnings)."""
    try:
        return fastjson.loads(text), False, []
    except (ValueError, RecursionError):
        pass
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
        return value, False, ["text around the JSON object was ignored"]
    except (ValueError, RecursionError):
        pass
    try:
        value = json_repair.loads(text[start:start + MAX_REPAIR_CHARS])
    except Exception as exc:  # the repairer is third-party code fed hostile text
        raise ValueError(f"JSON could not be repaired ({type(exc).__name__})") from None
    return value, True, ["output was not valid JSON and was repaired; it may be incomplete"]


def parse_model_output(body: Any, analysis_type: str, *, media_type: str, duration_seconds: float | None = None,
                       options: dict | None = None) -> ParsedOutput:
    """Validated results from a response body, or ModelOutputError(code, message) when unusable."""
    input_tokens, output_tokens = read_usage(body)
    stop_reason = body.get("stopReason") if isinstance(body, dict) else None
    stop_reason = stop_reason if isinstance(stop_reason, str) else None

    def fail(code: str, message: str, raw: str | None = None) -> ModelOutputError:
        return ModelOutputError(code, message, raw_text=raw, stop_reason=stop_reason,
                                input_tokens=input_tokens, output_tokens=output_tokens)

    if not isinstance(body, dict):
        raise fail("invalid_response", "response body is not a JSON object")
    if stop_reason == "content_filtered":
        raise fail("content_filtered", "the model's output was blocked by content filtering")
    text = _first_text(body)
    if text is None or not text.strip():
        raise fail("empty_output", f"the model returned no text (stop reason: {stop_reason or 'none'})")
    raw_text = text[:RAW_TEXT_CAP]
    warnings: list[str] = []
    truncated = stop_reason == "max_tokens"
    if len(text) > MAX_PARSE_CHARS:
        text, truncated = text[:MAX_PARSE_CHARS], True
        warnings.append("output was too long and was cut before parsing")
    try:
        data, repaired, decode_warnings = _decode(_strip_fences(text))
    except ValueError as exc:
        raise fail("invalid_json", str(exc), raw_text) from None
    warnings.extend(decode_warnings)
    if repaired:
        truncated = True
    if not isinstance(data, dict):
        code = "invalid_json" if repaired or data in ("", None) else "schema_mismatch"
        raise fail(code, f"expected a JSON object, got {type(data).__name__}", raw_text)
    try:
        result, schema_warnings = validate_result(analysis_type, data, media_type=media_type,
                                                  duration_seconds=duration_seconds, options=options)
    except ModelOutputError as exc:
        # Repaired garbage that matches no shape was never JSON in the first place.
        code = "invalid_json" if repaired else exc.code
        raise fail(code, exc.message, raw_text) from None
    warnings.extend(schema_warnings)
    if truncated and stop_reason == "max_tokens":
        warnings.append("the model stopped at its output token limit")
    results = result if analysis_type == "combined" else {analysis_type: result}
    if warnings:
        log.info("Model output for %s parsed with warnings: %s", analysis_type, "; ".join(warnings))
    return ParsedOutput(results=results, truncated=truncated, stop_reason=stop_reason,
                        input_tokens=input_tokens, output_tokens=output_tokens, raw_text=raw_text,
                        warnings=warnings, repaired=repaired)
