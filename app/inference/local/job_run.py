"""Running one claimed local batch job through Bedrock's statuses, record by record, to its final status."""
from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.inference.local import jobs_store
from app.inference.local.analyzer import AnalyzerError, LocalAnalyzer
from app.inference.local.job_input import JobFailed, Plan, read_records, split_s3, validate
from app.inference.local.job_output import Counters, OutputFile
from app.storage.base import ObjectStore
from app.utils import leases
from app.utils.clock import iso, parse_iso

log = logging.getLogger(__name__)

# HTTP-like error codes Bedrock writes into an output line's error object, by analyser error.
ERROR_CODES = {"invalid_request": 400, "media_not_found": 400, "decode_error": 500}


class StopRequested(Exception):
    """stop_batch_job was called for the job being run."""


class Interrupted(Exception):
    """The engine is shutting down; the job keeps its status and resumes at the next start."""


class ClaimLost(Exception):
    """Another worker took the job over (our lease ran out); stop touching it."""


class TimedOut(Exception):
    """The job passed its expiration time while in progress."""


@dataclass
class Run:
    """One worker's hold on one job; `clock` is the time of the step that claimed it."""

    conn: sqlite3.Connection
    job: sqlite3.Row
    owner: str
    clock: Callable[[], datetime]
    lease: float
    counters: Counters = field(default_factory=Counters)
    total: int | None = None
    started: bool = False  # this run reset the counters and began answering records

    def __post_init__(self) -> None:
        self.total = self.job["total_records"]

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    def now(self) -> str:
        return iso(self.clock())

    def lease_until(self) -> str:
        return iso(self.clock() + timedelta(seconds=self.lease))


class JobExecutor:
    """Drives claimed jobs: validation, the early statuses, every record, the output files, the end status."""

    def __init__(self, store: ObjectStore, analyzer: LocalAnalyzer, *, min_records: int, step_delay: float,
                 stopping: threading.Event) -> None:
        self.store = store
        self.analyzer = analyzer
        self.min_records = min_records
        self.step_delay = step_delay
        self.stopping = stopping

    def run(self, run: Run) -> None:
        """Drive a claimed job as far as it goes and record the outcome."""
        try:
            self._drive(run)
        except StopRequested:
            self._finish(run, "Stopped", _stopped_message(run))
        except TimedOut:
            self._finish(run, "PartiallyCompleted",
                         f"The job timed out after {run.job['timeout_hours']} hours; "
                         f"{run.counters.processed} records were processed.")
        except JobFailed as exc:
            log.info("local batch job %s failed: %s", run.job_id, exc)
            self._finish(run, "Failed", str(exc))
        except Interrupted:
            log.info("local batch job %s paused by shutdown; it resumes at the next start", run.job_id)
            leases.release(run.conn, jobs_store.CLAIMS, run.job_id, run.owner)
        except ClaimLost:
            log.warning("local batch job %s was taken over by another worker", run.job_id)
        except Exception as exc:
            log.exception("local batch job %s failed unexpectedly", run.job_id)
            self._finish(run, "Failed", f"Internal error: {type(exc).__name__}: {exc}"[:2048])

    def _finish(self, run: Run, status: str, message: str | None) -> None:
        if jobs_store.finish(run.conn, run.job_id, run.owner, status, run.now(), message):
            log.info("local batch job %s %s", run.job_id, status)

    def _drive(self, run: Run) -> None:
        job = run.job
        status = job["status"]
        if job["stop_requested"] or status == "Stopping":
            raise StopRequested()
        if status == "Submitted":
            self._pause()
            self._advance(run, "Validating")
            self._pause()
        plan = validate(self.store, run.job_id, job["input_uri"], job["output_uri"], self.min_records)
        run.total = plan.total
        if status in ("Submitted", "Validating"):
            self._advance(run, "Scheduled", total_records=plan.total)
            self._pause()
        if status != "InProgress" and run.clock() >= parse_iso(job["expiration_time"]):
            self._finish(run, "Expired", f"The job was not started before its timeout of "
                                         f"{job['timeout_hours']} hours.")
            return
        # Entering (or re-entering after a restart) InProgress starts the records from the top.
        self._advance(run, "InProgress", total_records=plan.total, processed_records=0, success_records=0,
                      error_records=0, input_tokens=0, output_tokens=0, message=None)
        run.started = True
        self._clear_outputs(plan.output_prefix)
        self._process(run, plan)
        self._finish(run, *_final_status(run.counters, plan.total))

    def _pause(self) -> None:
        """Linger in a status for the demo's step_delay; a shutdown cuts it short."""
        if self.step_delay and self.stopping.wait(self.step_delay):
            raise Interrupted()

    def _advance(self, run: Run, status: str, **fields: Any) -> None:
        if jobs_store.advance(run.conn, run.job_id, run.owner, status, run.now(), run.lease_until(), **fields):
            log.info("local batch job %s %s", run.job_id, status)
            return
        if jobs_store.stop_requested(run.conn, run.job_id):
            raise StopRequested()
        raise ClaimLost()

    def _clear_outputs(self, output_prefix: str) -> None:
        """Drop what an interrupted earlier run wrote, so the outputs match this run's counters."""
        stale = [info.key for info in self.store.list(output_prefix)]
        if stale:
            self.store.delete_many(stale)

    def _process(self, run: Run, plan: Plan) -> None:
        """Answer every record, publishing each file's .out (and the manifest) as it grows."""
        manifest_key = f"{plan.output_prefix}manifest.json.out"
        expiration = parse_iso(run.job["expiration_time"])
        with tempfile.TemporaryDirectory(prefix="local-batch-") as tmp:
            for index, input_file in enumerate(plan.files):
                out = OutputFile(Path(tmp), index)
                out_key = f"{plan.output_prefix}{input_file.out_name}"

                def publish(out: OutputFile = out, out_key: str = out_key) -> None:
                    self._publish(out, out_key, manifest_key, run, plan)

                try:
                    for record in read_records(self.store, input_file):
                        self._between_records(run, expiration, publish)
                        line = self._answer(record, plan)
                        out.add(record["recordId"], line)
                        self._count(run, line)
                        if out.due():
                            publish()
                    out.finished = True
                    publish()
                finally:
                    out.close()

    def _between_records(self, run: Run, expiration: datetime, publish: Callable[[], None]) -> None:
        """The record boundary: honour shutdown, stop requests and the job's timeout."""
        reason: type[Exception] | None = None
        if self.stopping.is_set():
            reason = Interrupted
        elif jobs_store.stop_requested(run.conn, run.job_id):
            reason = StopRequested
        elif run.clock() >= expiration:
            reason = TimedOut
        if reason is not None:
            publish()
            raise reason()

    def _publish(self, out: OutputFile, out_key: str, manifest_key: str, run: Run, plan: Plan) -> None:
        """Replace the file's .out (unless nothing was answered in it yet) and the manifest."""
        if len(out) or out.finished:
            out.publish(self.store, out_key)
        body = json.dumps(run.counters.manifest(plan.total)).encode("utf-8")
        self.store.put_bytes(manifest_key, body, content_type="application/json")

    def _count(self, run: Run, line: dict) -> None:
        """Add one output line to the counters and store them, which also renews the lease."""
        counters = run.counters
        counters.add(line)
        ok = jobs_store.record_progress(
            run.conn, run.job_id, run.owner, run.now(), run.lease_until(), processed=counters.processed,
            success=counters.success, error=counters.error, input_tokens=counters.input_tokens,
            output_tokens=counters.output_tokens)
        if not ok:
            raise ClaimLost()

    def _answer(self, record: dict, plan: Plan) -> dict:
        """The output line for one record: its modelOutput, or an error object."""
        record_id, model_input = record["recordId"], record["modelInput"]

        def error(code: int, message: str) -> dict:
            return {"recordId": record_id, "modelInput": model_input,
                    "error": {"errorCode": code, "errorMessage": message}}

        if "modelId" in model_input:
            return error(400, "Malformed input request: extraneous key [modelId] is not permitted "
                              "(Extra inputs are not permitted).")
        for uri in _media_uris(model_input):
            problem = self._media_problem(uri, plan)
            if problem:
                return error(400, problem)
        try:
            body = self.analyzer.respond(model_input)
        except AnalyzerError as exc:
            return error(ERROR_CODES.get(exc.code, 400), f"{exc.code}: {exc.message}")
        except Exception as exc:
            log.exception("local analyser failed on record %s", record_id)
            return error(500, f"Internal error: {type(exc).__name__}: {exc}")
        return {"recordId": record_id, "modelInput": model_input, "modelOutput": body}

    def _media_problem(self, uri: Any, plan: Plan) -> str | None:
        """Why Bedrock could not read this media URI in this job, or None when it can."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            return f"Invalid s3Location uri {uri!r}: expected s3://bucket/key."
        if plan.media_folder is None:
            return (f"The media {uri} cannot be read: the job's input {plan.media_folder_uri} is a single .jsonl "
                    "file, but media referenced by S3 URI needs the input to be the folder that holds "
                    "the .jsonl files and the media.")
        bucket, key = split_s3(uri)
        if bucket != self.store.bucket or not key.startswith(plan.media_folder) or key == plan.media_folder:
            return (f"The media {uri} is outside the job's input folder {plan.media_folder_uri}: all media "
                    "referenced by S3 URI must be in the same bucket and under the input folder.")
        return None


def _final_status(counters: Counters, total: int) -> tuple[str, str | None]:
    """Completed when no record failed, Failed when all did, else PartiallyCompleted; with the message."""
    if counters.error == 0:
        return "Completed", None
    if counters.success == 0:
        return "Failed", (f"All {counters.error} records failed; the error lines in the output say why. "
                          f"First error: {counters.first_error}")[:2048]
    return "PartiallyCompleted", f"{counters.error} of {total} records failed; see the error lines in the output."


def _stopped_message(run: Run) -> str:
    # Before this run started, the counters left by an interrupted earlier run still stand.
    processed = run.counters.processed if run.started else run.job["processed_records"]
    of = f" of {run.total}" if run.total is not None else ""
    return f"Stopped by request after {processed}{of} records."


def _media_uris(value: Any) -> Iterator[Any]:
    """Every s3Location.uri anywhere in a modelInput."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "s3Location" and isinstance(item, dict):
                yield item.get("uri")
            else:
                yield from _media_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from _media_uris(item)
