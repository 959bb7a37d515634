"""LocalTranscriber: the offline stand-in for Amazon Transcribe (TRANSCRIBE_BACKEND=local).

It takes the same StartTranscriptionJob parameters, keeps jobs under the same statuses (QUEUED ->
IN_PROGRESS -> COMPLETED | FAILED), refuses what Transcribe refuses (a taken name, a bad parameter, audio
shorter than 500 ms or longer than 4 h) and writes Transcribe's own output JSON to the output key of the
object store, so the app reads its answers with the code that reads AWS's.

It cannot recognise speech and does not pretend to: it measures the audio's level every 20 ms and reports
the stretches of sound as `audio_segments` with empty text (the app says why). Started, it runs jobs in
its own threads and wakes when one is started; not started, run_once(now) runs them in the caller's thread.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

from app.inference.base import ConflictError, NotFoundError
from app.inference.transcribe import local_store
from app.inference.transcribe._vad import sound_segments
from app.inference.transcribe.base import (MAX_AUDIO_SECONDS, MAX_MEDIA_BYTES, MIN_AUDIO_SECONDS, JobRequest,
                                           TranscriptionJobInfo, TranscriptionService, validate_request)
from app.inference.transcribe.output import build_output
from app.media.audio import LEVEL_FRAME_SECONDS, sound_levels
from app.media.errors import MediaError
from app.storage.base import ObjectStore, StorageError
from app.utils.background import BackgroundWorker
from app.utils.clock import Clock, iso, parse_iso
from app.utils.holders import holder_id
from app.utils.sqlite import connect, transaction

log = logging.getLogger(__name__)

LEASE_SECONDS = 600.0
POLL_INTERVAL = 5.0
# The words AWS uses for these failures (docs/transcribe-facts.md §Errors).
TOO_SHORT = "The input media file length is too small. Check the length of the file and try your request again."
TOO_LONG = f"The input media file is longer than {MAX_AUDIO_SECONDS} seconds."
TOO_LARGE = f"The input media file is larger than {MAX_MEDIA_BYTES} bytes."
UNREADABLE = "The media format provided does not match the detected media format. Check the media format and try again."


class LocalTranscriber(BackgroundWorker, TranscriptionService):
    """TranscriptionService that measures sound instead of recognising words; jobs in its own table."""

    name = "local"

    def __init__(self, db_path: Path, store: ObjectStore, *, workers: int = 1,
                 poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(name="local-transcriber", interval=poll_interval, slots=workers)
        self.db_path = Path(db_path)
        self.store = store
        self.owner = holder_id()
        # Called after each job this engine ran ends (the app wakes its poller with it).
        self.on_job_end: Callable[[], None] | None = None

    def _connect(self) -> closing[sqlite3.Connection]:
        return closing(connect(self.db_path))

    def start_job(self, request: JobRequest) -> TranscriptionJobInfo:
        validate_request(request)
        with self._connect() as conn:
            try:
                with transaction(conn):
                    local_store.insert_job(
                        conn, name=request.name, media_uri=request.media_uri, media_format=request.media_format,
                        output_bucket=request.output_bucket, output_key=request.output_key,
                        language_code=request.language_code, identify_language=request.language_code is None,
                        max_speakers=request.max_speakers, creation_time=iso())
            except sqlite3.IntegrityError:
                raise ConflictError("A resource already exists with this name. Try again with a different name.",
                                    code="ConflictException") from None
            row = local_store.get_job(conn, request.name)
        self.wake()
        return _info(row)

    def get_job(self, name: str) -> TranscriptionJobInfo:
        with self._connect() as conn:
            row = local_store.get_job(conn, name)
        if row is None:
            raise NotFoundError("The requested job couldn't be found. Check the job name and try your request again.",
                                code="NotFoundException")
        return _info(row)

    def list_jobs(self, *, name_contains: str, status: str | None = None) -> Iterator[TranscriptionJobInfo]:
        with self._connect() as conn:
            rows = local_store.list_jobs(conn, name_contains=name_contains, status=status)
        return iter([_info(row, summary=True) for row in rows])

    def run_once(self, now: datetime | None = None) -> int:
        """Run queued jobs while workers are free (here, to their end, when not started); how many began."""
        clock = Clock(now)
        started: list[str] = []
        with self._connect() as conn:
            while len(self.busy()) < self.slots and not self.stopping.is_set():
                with transaction(conn):
                    row = local_store.claim_next(conn, self.owner, clock.now(), LEASE_SECONDS,
                                                 self.busy() | set(started))
                if row is None:
                    break
                started.append(row["name"])
                self.spawn(row["name"], lambda row=row: self._run(row, clock))
        return len(started)

    def _run(self, row: sqlite3.Row, clock: Clock) -> None:
        with self._connect() as conn:
            with transaction(conn):
                local_store.mark_started(conn, row["name"], self.owner, iso(clock.now()))
            try:
                reason = self._transcribe(row)
            except StorageError as exc:
                reason = f"The media could not be read: {exc}"
            except Exception as exc:  # a fault here would otherwise re-run the job forever
                log.exception("local transcription job %s failed", row["name"])
                reason = f"Internal failure: {exc}"
            status = "FAILED" if reason else "COMPLETED"
            with transaction(conn):
                local_store.finish(conn, row["name"], self.owner, status=status, now=iso(clock.now()),
                                   failure_reason=reason)
        log.info("local transcription job %s %s%s", row["name"], status.lower(), f": {reason}" if reason else "")
        if self.on_job_end is not None:
            self.on_job_end()

    def _transcribe(self, row: sqlite3.Row) -> str | None:
        """Measure the media and write the output JSON; the failure reason, or None when it completed."""
        if row["output_bucket"] != self.store.bucket:
            return f"The output bucket {row['output_bucket']} is not reachable."
        key = self.store.key_from_uri(row["media_uri"])
        if self.store.head(key).size > MAX_MEDIA_BYTES:
            return TOO_LARGE
        with tempfile.TemporaryDirectory(prefix="local-transcribe-") as folder:
            path = self.store.local_path(key)
            if path is None:  # a store not on disk: read it like the service would
                path = Path(folder) / "media"
                with self.store.open_read(key) as stream, open(path, "wb") as out:
                    while chunk := stream.read(1024 * 1024):
                        out.write(chunk)
            try:
                levels = sound_levels(path)
            except MediaError:
                return UNREADABLE
        seconds = len(levels) * LEVEL_FRAME_SECONDS
        if seconds < MIN_AUDIO_SECONDS:
            return TOO_SHORT
        if seconds > MAX_AUDIO_SECONDS:
            return TOO_LONG
        output = build_output(row["name"], sound_segments(levels, LEVEL_FRAME_SECONDS),
                              language_code=row["language_code"])
        self.store.put_bytes(row["output_key"], json.dumps(output).encode(), content_type="application/json")
        return None


def _info(row: sqlite3.Row, *, summary: bool = False) -> TranscriptionJobInfo:
    completed = row["status"] == "COMPLETED"
    return TranscriptionJobInfo(
        name=row["name"], status=row["status"], failure_reason=row["failure_reason"],
        language_code=row["language_code"], media_uri=None if summary else row["media_uri"],
        transcript_uri=(f"s3://{row['output_bucket']}/{row['output_key']}" if completed and not summary else None),
        created=parse_iso(row["creation_time"]), completed=parse_iso(row["completion_time"]))

