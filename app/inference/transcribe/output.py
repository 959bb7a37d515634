"""Amazon Transcribe's output JSON (docs/transcribe-facts.md §Transcript JSON): read into timed lines, and
written by the offline stand-in so both backends are read by the same code.

Words (`results.items`, times as strings of seconds; punctuation has no times and joins the word before it)
become lines the way subtitles break: at a change of speaker, after a pause, after a sentence that is long
enough, and before a line grows too long. An output without words (the stand-in, or audio with no speech)
falls back to `results.audio_segments`, which AWS writes too but does not document, so it is optional.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PAUSE_SECONDS = 1.0  # a silence this long starts a new line
SENTENCE_MIN_SECONDS = 3.0  # a sentence ending after this long ends its line
SENTENCE_MIN_CHARS = 60
MAX_LINE_SECONDS = 12.0
MAX_LINE_CHARS = 160
SENTENCE_END = (".", "?", "!", "。", "？", "！")


class OutputError(ValueError):
    """The JSON is not a transcript this code can read."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None


@dataclass(frozen=True)
class ParsedTranscript:
    language: str | None
    language_score: float | None
    text: str
    segments: list[Segment]

    @property
    def end_seconds(self) -> float:
        return max((s.end for s in self.segments), default=0.0)


def parse_output(data: Any) -> ParsedTranscript:
    """The transcript in a Transcribe output document; OutputError when it has no `results` object."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise OutputError("the output has no 'results' object")
    results = data["results"]
    speakers = _speaker_spans(results.get("speaker_labels"))
    segments = _lines_from_items(_list(results.get("items")), speakers)
    if not segments:
        segments = _lines_from_audio_segments(_list(results.get("audio_segments")))
    transcripts = [t.get("transcript") for t in _list(results.get("transcripts")) if isinstance(t, dict)]
    text = " ".join(t.strip() for t in transcripts if isinstance(t, str) and t.strip())
    if not text:
        text = " ".join(s.text for s in segments if s.text)
    language, score = _language(results)
    return ParsedTranscript(language=language, language_score=score, text=text, segments=segments)


def build_output(job_name: str, sounds: list[tuple[float, float]], *, language_code: str | None,
                 account_id: str = "000000000000") -> dict[str, Any]:
    """A COMPLETED output with no words: one audio segment per stretch of sound (what the stand-in knows)."""
    results: dict[str, Any] = {
        "transcripts": [{"transcript": ""}],
        "items": [],
        "audio_segments": [
            {"id": n, "transcript": "", "start_time": f"{start:.3f}", "end_time": f"{end:.3f}", "items": []}
            for n, (start, end) in enumerate(sounds)],
    }
    if language_code:
        results["language_code"] = language_code
    return {"jobName": job_name, "accountId": account_id, "status": "COMPLETED", "results": results}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _seconds(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _content(item: dict[str, Any]) -> str:
    alternatives = [a for a in _list(item.get("alternatives")) if isinstance(a, dict)]
    content = alternatives[0].get("content") if alternatives else None
    return content.strip() if isinstance(content, str) else ""


def _speaker_spans(labels: Any) -> list[tuple[float, float, str]]:
    """(start, end, label) from results.speaker_labels, for items that carry no label themselves."""
    spans = []
    for segment in _list(labels.get("segments") if isinstance(labels, dict) else None):
        if not isinstance(segment, dict) or not isinstance(segment.get("speaker_label"), str):
            continue
        start, end = _seconds(segment.get("start_time")), _seconds(segment.get("end_time"))
        if start is not None and end is not None:
            spans.append((start, end, segment["speaker_label"]))
    return spans


def _speaker_at(spans: list[tuple[float, float, str]], start: float) -> str | None:
    for first, last, label in spans:
        if first <= start < last or first == start:
            return label
    return None


class _Line:
    def __init__(self, start: float, end: float, speaker: str | None, word: str) -> None:
        self.start, self.end, self.speaker, self.text = start, end, speaker, word

    def ends_sentence(self) -> bool:
        return self.text.endswith(SENTENCE_END) and (
            self.end - self.start >= SENTENCE_MIN_SECONDS or len(self.text) >= SENTENCE_MIN_CHARS)

    def segment(self) -> Segment:
        return Segment(round(self.start, 3), round(max(self.end, self.start), 3), self.text, self.speaker)


def _lines_from_items(items: list[Any], spans: list[tuple[float, float, str]]) -> list[Segment]:
    lines: list[_Line] = []
    line: _Line | None = None
    for item in items:
        if not isinstance(item, dict):
            continue
        word = _content(item)
        if not word:
            continue
        if item.get("type") == "punctuation":
            if line is not None:
                line.text += word
            continue
        start, end = _seconds(item.get("start_time")), _seconds(item.get("end_time"))
        if start is None or end is None:
            continue
        label = item.get("speaker_label")
        speaker = label if isinstance(label, str) else _speaker_at(spans, start)
        if line is not None and not _breaks(line, start, end, speaker, word):
            line.text += " " + word
            line.end = max(line.end, end)
            continue
        line = _Line(start, end, speaker, word)
        lines.append(line)
    return [line.segment() for line in lines]


def _breaks(line: _Line, start: float, end: float, speaker: str | None, word: str) -> bool:
    """Whether `word` starts a new line after `line`."""
    return (speaker != line.speaker or start - line.end >= PAUSE_SECONDS or line.ends_sentence()
            or end - line.start > MAX_LINE_SECONDS or len(line.text) + 1 + len(word) > MAX_LINE_CHARS)


def _lines_from_audio_segments(segments: list[Any]) -> list[Segment]:
    lines = []
    for segment in segments:
        if not isinstance(segment, dict):
            continue
        start, end = _seconds(segment.get("start_time")), _seconds(segment.get("end_time"))
        if start is None or end is None:
            continue
        text = segment.get("transcript")
        label = segment.get("speaker_label")
        lines.append(Segment(round(start, 3), round(max(end, start), 3), text.strip() if isinstance(text, str) else "",
                             label if isinstance(label, str) else None))
    return sorted(lines, key=lambda s: (s.start, s.end))


def _language(results: dict[str, Any]) -> tuple[str | None, float | None]:
    """results.language_code with its score from results.language_identification (the best candidate when
    the code is missing)."""
    code = results.get("language_code")
    candidates = [(c.get("code"), _seconds(c.get("score")) or 0.0)
                  for c in _list(results.get("language_identification"))
                  if isinstance(c, dict) and isinstance(c.get("code"), str)]
    if not isinstance(code, str) or not code:
        code = max(candidates, key=lambda c: c[1])[0] if candidates else None
    score = next((s for c, s in candidates if c == code), None)
    return code or None, score
