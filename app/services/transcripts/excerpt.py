"""What a transcript adds to a Nova prompt: timestamped lines of a span, trimmed to a token budget.

    [12.3-15.8s] spk_0: Welcome to the site walk-through.

Each line is one transcript segment on one line. Its text is untrusted (subtitles come from anywhere), so it
carries no control or format characters, no line breaks, no angle brackets (‹ › stand in) and no code
fences: it cannot end a tag or block the prompt wraps the transcript in, nor fake a new prompt line. When
the lines of the span do not fit the budget, an evenly spread subset is kept, in order, with `[…]` where
lines were left out, so the whole span is still covered. Tokens are counted as UTF-8 bytes / 4: the app's
4 characters a token for English (app/nova/estimate.py), and more for scripts that need more tokens.
"""
from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass
from typing import Iterable

from app.db import transcripts as transcripts_db
from app.services.transcripts.store import plain_line

DEFAULT_MAX_TOKENS = 6_000
BYTES_PER_TOKEN = 4
MAX_LINE_CHARS = 1_000
GAP_MARKER = "[…]"
LINE_OVERHEAD_BYTES = 22  # "[1234.5-1240.1s] spk_0: " and the newline, for bulk estimates
_SPEAKER = re.compile(r"[^A-Za-z0-9 _.\-]")
_FENCE = re.compile(r"`{3,}")


@dataclass(frozen=True)
class TranscriptExcerpt:
    """The prompt text of a span and what it holds."""

    text: str
    tokens: int
    lines_total: int
    lines_included: int
    source: str
    language: str | None

    @property
    def trimmed(self) -> bool:
        return self.lines_included < self.lines_total


def estimate_tokens(text: str) -> int:
    """Tokens a text is counted as in prompts and estimates."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def safe_prompt_text(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """Untrusted text made fit for one prompt line (see the module docstring)."""
    line = plain_line(text, limit * 2).replace("<", "‹").replace(">", "›")
    return _FENCE.sub("'''", line)[:limit].strip()


def prompt_line(start: float, end: float, speaker: str | None, text: str, *, time_offset: float = 0.0) -> str:
    """`[start-end s] speaker: text` with times shifted by -time_offset (never below 0)."""
    first, last = max(0.0, start - time_offset), max(0.0, end - time_offset)
    who = _SPEAKER.sub("", plain_line(speaker or "", 64))[:32].strip()
    return f"[{first:.1f}-{last:.1f}s] {who + ': ' if who else ''}{safe_prompt_text(text)}"


def transcript_excerpt(conn: sqlite3.Connection, file_id: int, *, start_seconds: float | None = None,
                       end_seconds: float | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                       time_offset: float = 0.0) -> TranscriptExcerpt | None:
    """The file's transcript lines overlapping [start_seconds, end_seconds) (the whole file when None),
    within max_tokens; None when the file has no transcript or no words in the span."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    transcript = transcripts_db.get_transcript(conn, file_id)
    if transcript is None:
        return None
    rows = transcripts_db.list_segments(conn, transcript["id"], start=start_seconds, end=end_seconds)
    lines = [prompt_line(r["start_seconds"], r["end_seconds"], r["speaker"], r["text"], time_offset=time_offset)
             for r in rows if safe_prompt_text(r["text"])]
    if not lines:
        return None
    chosen = _fit(lines, max_tokens)
    text = "\n".join(chosen)
    included = sum(1 for line in chosen if line != GAP_MARKER)
    return TranscriptExcerpt(text=text, tokens=estimate_tokens(text), lines_total=len(lines),
                             lines_included=included, source=transcript["source"], language=transcript["language"])


def prompt_excerpt(conn: sqlite3.Connection, file_id: int, *, start_seconds: float | None = None,
                   end_seconds: float | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                   time_offset: float = 0.0) -> str | None:
    """The prompt text of transcript_excerpt, or None."""
    excerpt = transcript_excerpt(conn, file_id, start_seconds=start_seconds, end_seconds=end_seconds,
                                 max_tokens=max_tokens, time_offset=time_offset)
    return excerpt.text if excerpt is not None else None


def excerpt_tokens(conn: sqlite3.Connection, file_id: int, *, start_seconds: float | None = None,
                   end_seconds: float | None = None, max_tokens: int = DEFAULT_MAX_TOKENS) -> int:
    """Tokens prompt_excerpt's text counts as (0 when there is none): for one file's estimate."""
    excerpt = transcript_excerpt(conn, file_id, start_seconds=start_seconds, end_seconds=end_seconds,
                                 max_tokens=max_tokens)
    return excerpt.tokens if excerpt is not None else 0


def prompt_tokens_by_file(conn: sqlite3.Connection, file_ids: Iterable[int], *,
                          max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[int, int]:
    """{file id: tokens its whole-file excerpt adds, at most max_tokens} from one aggregate query, for
    estimating many files at once; files without words are left out. Slightly above excerpt_tokens."""
    sizes = transcripts_db.text_sizes_by_file(conn, file_ids, LINE_OVERHEAD_BYTES)
    return {file_id: min(max_tokens, math.ceil(size / BYTES_PER_TOKEN)) for file_id, size in sizes.items() if size}


def _fit(lines: list[str], budget: int) -> list[str]:
    """All lines if they fit, else an evenly spread subset with gap markers that does."""
    if _cost(lines) <= budget:
        return lines
    count = max(1, int(len(lines) * budget / _cost(lines)))
    while count > 1:
        chosen = _spread(lines, count)
        if _cost(chosen) <= budget:
            return chosen
        count -= max(1, count // 10)
    first = lines[0]
    while first and estimate_tokens(first) > budget:  # one line longer than the whole budget
        first = first[:max(0, len(first) - max(1, len(first) // 10))]
    return [first] if first else []


def _spread(lines: list[str], count: int) -> list[str]:
    step = (len(lines) - 1) / (count - 1)
    indices = sorted({round(n * step) for n in range(count)})
    chosen: list[str] = []
    for position, index in enumerate(indices):
        if position and index != indices[position - 1] + 1:
            chosen.append(GAP_MARKER)
        chosen.append(lines[index])
    if indices[-1] != len(lines) - 1:
        chosen.append(GAP_MARKER)
    return chosen


def _cost(lines: list[str]) -> int:
    return estimate_tokens("\n".join(lines))
