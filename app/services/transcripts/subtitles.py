"""Subtitles a video already has become its transcript, with no request and no cost: the `subtitles` task that
follows every import, and the first thing a transcription request tries.

A sidecar is used only when it really sits inside LIBRARY_ROOTS and is a regular file: a `clip.srt` that is a
symlink to a file elsewhere would otherwise copy that file's text into the library.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, Sequence

from app.config import Settings
from app.db import files as files_db
from app.db import transaction
from app.db import transcripts as transcripts_db
from app.media.errors import MediaError
from app.media.subtitles import (SubtitleTrack, read_embedded_subtitles, read_subtitle_file, sidecar_candidates,
                                 subtitle_names)
from app.services import library
from app.services.importing import is_within
from app.services.tasks import TaskContext
from app.services.transcripts.store import save_subtitles

log = logging.getLogger(__name__)

BATCH = 100


class FolderNames(dict):
    """Subtitle file names per folder, listed once: a request over many videos of one folder lists it once."""

    def of(self, video_path: str | Path) -> list[str]:
        folder = str(Path(video_path).parent)
        if folder not in self:
            self[folder] = subtitle_names(folder)
        return self[folder]


def find_subtitles(settings: Settings, video_path: str | Path, problems: list[str] | None = None,
                   folders: FolderNames | None = None) -> tuple[str, SubtitleTrack] | None:
    """(source, track) from the first readable sidecar, else the first text subtitle stream; None when neither.
    Unusable sidecars are described in `problems`."""
    names = folders.of(video_path) if folders is not None else None
    for candidate in sidecar_candidates(video_path, names):
        reason = _unsafe(settings.LIBRARY_ROOTS, candidate)
        if reason is None:
            try:
                return "sidecar", read_subtitle_file(candidate)
            except MediaError as exc:
                reason = exc.reason
        if problems is not None:
            problems.append(f"{candidate.name}: {reason}")
    try:
        track = read_embedded_subtitles(video_path)
    except MediaError as exc:
        if problems is not None:
            problems.append(exc.reason)
        return None
    return ("subtitle_stream", track) if track is not None else None


def has_sidecar(settings: Settings, video_path: str | Path, folders: FolderNames) -> bool:
    """Whether a usable-looking sidecar sits beside the video (no parsing: for estimates)."""
    return any(_unsafe(settings.LIBRARY_ROOTS, c) is None
               for c in sidecar_candidates(video_path, folders.of(video_path)))


def _unsafe(roots: Sequence[Path], candidate: Path) -> str | None:
    """Why the sidecar may not be read, or None."""
    real = Path(os.path.realpath(candidate))
    if not any(is_within(real, Path(os.path.realpath(root))) for root in roots):
        return "it leads outside the library roots (LIBRARY_ROOTS); not read"
    try:
        info = os.stat(real)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None if stat.S_ISREG(info.st_mode) else "not a regular file"


def pick_up(settings: Settings, conn, row: Any, ctx: TaskContext | None = None,
            folders: FolderNames | None = None) -> str | None:
    """Store the file's subtitles as its transcript; the source used, or None when it has none."""
    problems: list[str] = []
    found = find_subtitles(settings, row["path"], problems, folders)
    if ctx is not None:
        for problem in problems:
            ctx.fail_item(row["name"], f"subtitles not used: {problem}")
    if found is None:
        return None
    source, track = found
    with transaction(conn):
        save_subtitles(conn, row["id"], source, track)
    log.info("file %s: transcript from %s (%d cues)", row["id"], track.detail, len(track.cues))
    return source


def run_subtitles_task(settings: Settings, ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
    """Task handler: the selected videos without a transcript get their subtitles as one, if they have any."""
    conn = ctx.conn
    ids = _video_ids(conn, params)
    for name in ("sidecar", "subtitle_stream", "none", "skipped_existing"):
        ctx.counters.setdefault(name, 0)
    ctx.done = 0
    ctx.set_total(len(ids))
    folders = FolderNames()
    for start in range(0, len(ids), BATCH):
        ctx.check()
        part = ids[start:start + BATCH]
        existing = transcripts_db.sources_by_file(conn, part)
        for row in files_db.get_files(conn, part):
            ctx.set_current(row["name"])
            if existing.get(row["id"]) not in (None, "local"):
                ctx.advance(skipped_existing=1)
                continue
            source = pick_up(settings, conn, row, ctx, folders)
            ctx.advance(**{source or "none": 1})
    ctx.set_current(None)
    return dict(ctx.counters)


def _video_ids(conn, params: dict[str, Any]) -> list[int]:
    if params.get("file_ids") is not None:
        ids = [int(i) for i in params["file_ids"]]
        return [row["id"] for row in files_db.get_files(conn, ids)
                if row["media_type"] == "video" and row["status"] == "ready"]
    query = library.parse_file_query(params.get("filter") or {}, paged=False)
    query.media_type = "video"
    query.status = "ready"
    return list(files_db.iter_file_ids(conn, query))
