"""A transcript as a download: SubRip (.srt), WebVTT (.vtt) or plain text (.txt), and its file name.

Stored text is plain (no markup); WebVTT is markup, so `&`, `<` and `>` are escaped there, and `-->` never
appears in a cue of either format (it would end the cue's timing line early in some players).
"""
from __future__ import annotations

import re
import sqlite3
from typing import Any

from app.errors import NotFound
from app.services import library
from app.services.transcripts.store import transcript_dict

FORMATS = {"srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
           "txt": "text/plain; charset=utf-8"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")  # ASCII: it goes into a header


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(segment: dict[str, Any]) -> str:
    text = segment["text"].replace("-->", "->")
    speaker = (segment.get("speaker") or "").replace("-->", "->")
    return f"{speaker}: {text}" if speaker else text


def to_srt(transcript: dict[str, Any]) -> str:
    blocks = []
    for number, segment in enumerate((s for s in transcript["segments"] if s["text"]), start=1):
        blocks.append(f"{number}\n{_clock(segment['start_seconds'], ',')} --> {_clock(segment['end_seconds'], ',')}\n"
                      f"{_cue_text(segment)}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(transcript: dict[str, Any]) -> str:
    blocks = ["WEBVTT\n"]
    for segment in transcript["segments"]:
        if not segment["text"]:
            continue
        text = _vtt_escape(segment["text"].replace("-->", "->"))
        speaker = segment.get("speaker")
        if speaker:  # a voice span: <v Name>text
            text = f"<v {_vtt_escape(speaker.replace('-->', '->'))}>{text}"
        blocks.append(f"{_clock(segment['start_seconds'], '.')} --> {_clock(segment['end_seconds'], '.')}\n{text}\n")
    return "\n".join(blocks)


def to_txt(transcript: dict[str, Any]) -> str:
    lines = []
    for segment in transcript["segments"]:
        if segment["text"]:
            lines.append(f"[{_clock(segment['start_seconds'], '.')[:8]}] {_cue_text(segment)}")
    if not lines and transcript.get("note"):
        lines.append(transcript["note"])
    return "\n".join(lines) + ("\n" if lines else "")


RENDERERS = {"srt": to_srt, "vtt": to_vtt, "txt": to_txt}


def download_name(file_name: str, fmt: str) -> str:
    """`<file stem>.transcript.<fmt>` with only letters, digits, '.', '-' and '_'."""
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    safe = _UNSAFE_NAME.sub("_", stem).strip("._")[:80] or "transcript"
    return f"{safe}.transcript.{fmt}"


def download(conn: sqlite3.Connection, file_id: int, fmt: str) -> tuple[str, str, str]:
    """(body, content type, file name) of the file's transcript in `fmt`; 404 for an unknown file or none."""
    row = library.get_file(conn, file_id)
    transcript = transcript_dict(conn, file_id)
    if transcript is None:
        raise NotFound(f"file {file_id} has no transcript yet", code="transcript_not_found",
                       details={"file_id": file_id})
    return RENDERERS[fmt](transcript), FORMATS[fmt], download_name(row["name"], fmt)
