"""Subtitles a video already has: a sidecar .srt/.vtt file beside it, or a text subtitle stream in its container.

Subtitle text is untrusted: markup (<i>, <font ...>, {\\an8}, <v Name>) is removed, entities decoded, control
characters dropped and each cue's lines joined into one; what remains is plain text for the caller to store
and show as text. Files are read up to MAX_SUBTITLE_BYTES in UTF-8 (with or without BOM), UTF-16 with a BOM,
or Windows-1252 as the last resort.
"""
from __future__ import annotations

import html
import os
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .errors import MediaError

SIDECAR_EXTENSIONS = (".srt", ".vtt")
MAX_SUBTITLE_BYTES = 5 * 1024 * 1024
MAX_CUES = 50_000
MAX_CUE_CHARS = 2_000
# Decoders whose cues are text; bitmap ones (PGS, DVD, DVB) would need OCR.
TEXT_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "subviewer",
                         "subviewer1", "realtext", "sami", "stl", "mpl2", "pjs", "vplayer", "jacosub"})

_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{1,2}[,.]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{1,2}[,.]\d{1,3})(?:\s.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,200}>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]{0,200}\}")
_LANG_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z]{2,4})?")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    speaker: str | None = None


@dataclass(frozen=True)
class SubtitleTrack:
    """Cues read from one source: `detail` names it (a file name or 'stream 2 (subrip)'), `language` as tagged."""

    cues: list[Cue]
    detail: str
    language: str | None = None


def clean_text(text: str) -> str:
    """One line of plain text from a cue's markup."""
    text = _ASS_OVERRIDE.sub("", text.replace("\\N", "\n").replace("\\n", "\n"))
    text = html.unescape(_TAG.sub("", text))
    chars = [" " if ch in "\r\n\t" or unicodedata.category(ch) == "Zs" else ch for ch in text]
    text = "".join(ch for ch in chars if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs"))
    return " ".join(text.split())[:MAX_CUE_CHARS]


def _timestamp(text: str) -> float:
    parts = text.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    return hours * 3600 + minutes * 60 + seconds


def parse_cues(text: str) -> list[Cue]:
    """Cues of an SRT or WebVTT document (the timing line decides, so both and sloppy variants parse)."""
    cues: list[Cue] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines) and len(cues) < MAX_CUES:
        match = _TIMING.match(lines[index])
        index += 1
        if match is None:
            continue
        body: list[str] = []
        while index < len(lines) and lines[index].strip() and not _TIMING.match(lines[index]):
            body.append(lines[index])
            index += 1
        start, end = _timestamp(match.group(1)), _timestamp(match.group(2))
        raw = "\n".join(body)
        voice = _VOICE.search(raw)
        text_line = clean_text(raw)
        if text_line and end >= start:
            speaker = clean_text(voice.group(1))[:64] if voice else None
            cues.append(Cue(start, end, text_line, speaker or None))
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def decode_subtitle_bytes(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_subtitle_file(path: Path | str) -> SubtitleTrack:
    """The cues of a .srt/.vtt file (MediaError when unreadable, too big or without any cue)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SUBTITLE_BYTES + 1)
    except OSError as exc:
        raise MediaError(f"cannot read subtitles: {exc.strerror or exc}") from None
    if len(data) > MAX_SUBTITLE_BYTES:
        raise MediaError(f"the subtitle file is larger than {MAX_SUBTITLE_BYTES // (1024 * 1024)} MB")
    cues = parse_cues(decode_subtitle_bytes(data))
    if not cues:
        raise MediaError("the subtitle file has no timed cues")
    return SubtitleTrack(cues=cues, detail=path.name, language=sidecar_language(path))


def subtitle_names(folder: Path | str) -> list[str]:
    """The names in a folder that could be sidecars (for callers that look up many videos of one folder)."""
    try:
        return sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith(".")
                      and os.path.splitext(entry.name)[1].lower() in SIDECAR_EXTENSIONS)
    except OSError:
        return []


def sidecar_candidates(video: Path | str, names: list[str] | None = None) -> list[Path]:
    """Files beside the video named like it with a subtitle extension (any case): `clip.srt`, `clip.VTT`,
    then `clip.en.srt`-style language-tagged ones; .srt before .vtt. `names`: subtitle_names of its folder,
    when the caller has them. Not resolved or checked here."""
    video = Path(video)
    stem = video.stem
    exact, tagged = [], []
    for name in subtitle_names(video.parent) if names is None else names:
        base, ext = os.path.splitext(name)
        if ext.lower() not in SIDECAR_EXTENSIONS:
            continue
        rank = SIDECAR_EXTENSIONS.index(ext.lower())
        if base == stem or base.lower() == stem.lower():
            exact.append((base != stem, rank, name))
        elif base.lower().startswith(stem.lower() + ".") and _LANG_TAG.fullmatch(base[len(stem) + 1:]):
            tagged.append((rank, name))
    return [video.parent / n for *_, n in sorted(exact)] + [video.parent / n for _, n in sorted(tagged)]


def sidecar_language(path: Path) -> str | None:
    """The language tag of `clip.en.srt` ('en'), if any."""
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and _LANG_TAG.fullmatch(parts[-2]) else None


def read_embedded_subtitles(path: Path | str) -> SubtitleTrack | None:
    """The cues of the first text subtitle stream in the container (None when it has none)."""
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams.subtitles if s.codec_context.name in TEXT_CODECS]
            if not streams:
                return None
            stream = streams[0]
            cues = _stream_cues(container, stream)
            language = (stream.metadata or {}).get("language")
            detail = f"stream {stream.index} ({stream.codec_context.name})"
    except av.FFmpegError as exc:
        raise MediaError(f"cannot read the subtitle stream: {exc}") from None
    return SubtitleTrack(cues=cues, detail=detail, language=language if language not in (None, "und") else None) \
        if cues else None


def _stream_cues(container: av.container.InputContainer, stream: av.subtitles.stream.SubtitleStream) -> list[Cue]:
    base = stream.time_base or Fraction(1, 1000)
    cues: list[Cue] = []
    for packet in container.demux(stream):
        if packet.pts is None or len(cues) >= MAX_CUES:
            continue
        start = float(packet.pts * base)
        end = start + float((packet.duration or 0) * base)
        for subtitle in stream.decode(packet):
            raw = getattr(subtitle, "dialogue", b"") or b""
            text = clean_text(raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw))
            if text:
                cues.append(Cue(start, end if end > start else start + 2.0, text))
    cues.sort(key=lambda c: (c.start, c.end))
    return cues
