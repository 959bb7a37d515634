"""LocalBatchEngine: the offline stand-in for Bedrock, answering on-demand calls and running batch jobs.

Jobs live in the local_batch_jobs table and move through Bedrock's statuses:
Submitted -> Validating -> Scheduled -> InProgress -> Completed | PartiallyCompleted | Failed,
Stopping -> Stopped on request, Expired when not started within timeout_hours.

Choices where Bedrock's behaviour is not documented (see docs/analysis-contract.md and
/work/shared/reference/bedrock-batch-facts.md for what is):
- a folder input reads every '.jsonl' object under the prefix, sub-folders included; an input in a
  sub-folder lands at '<job_id>/<sub-folder>/<name>.out';
- media referenced by s3Location must sit in the input URI's bucket under its folder; when the input
  URI names a single .jsonl file, S3 media cannot be used at all (Bedrock wants the folder);
- the final status is Completed when no record failed, PartiallyCompleted when some did, and
  Failed when every record failed; a job still running at its expiration time stops early as
  PartiallyCompleted;
- output lines are ordered by a hash of recordId, never by input order;
- a resumed job is re-run from its first record and its output files are rewritten whole.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import string
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from app.db import local_jobs
from app.db.connection import connect, transaction
from app.inference.base import (
    BatchJobInfo,
    ConflictError,
    InferenceBackend,
    InferenceError,
    NotFoundError,
    ValidationError,
    job_id_from_arn,
    validate_batch_status,
    validate_create_job,
    validate_job_identifier,
    validate_job_name,
)
from app.inference.local_analyzer import AnalyzerError, LocalAnalyzer
from app.storage.base import ObjectStore, StorageError

log = logging.getLogger(__name__)

JOB_ID_ALPHABET = string.ascii_lowercase + string.digits
JOB_ID_LENGTH = 12
MAX_MODEL_ID_LEN = 2048
# Bedrock's default quotas for Nova (facts §5); "minimum records" is the min_records argument.
MAX_RECORDS_PER_FILE = 50_000
MAX_RECORDS_PER_JOB = 50_000
MAX_INPUT_FILE_BYTES = 1024 ** 3
DEFAULT_LEASE_SECONDS = 600.0
DEFAULT_POLL_INTERVAL = 5.0
# A partial .out is republished once this many records, or a quarter of those done, are new:
# the rewrites then cost a constant factor of the output size, not its square.
MIN_RECORDS_PER_FLUSH = 10
FLUSH_FRACTION = 0.25
ERROR_CODES = {"invalid_request": 400, "media_not_found": 400, "decode_error": 500}
_REGION_RE = re.compile(r"[a-z0-9-]{1,20}")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_HOST = socket.gethostname()


class _JobFailed(Exception):
    """Validation or processing found the whole job unusable; the message goes to the job."""


class _StopRequested(Exception):
    """stop_batch_job was called for the job being run."""


class _Interrupted(Exception):
    """The engine is shutting down; the job keeps its status and resumes at the next start."""


class _ClaimLost(Exception):
    """Another worker took the job over (our lease ran out); stop touching it."""


class _TimedOut(Exception):
    """The job passed its expiration time while in progress."""


@dataclass
class _Counters:
    processed: int = 0
    success: int = 0
    error: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    first_error: str | None = None

    def manifest(self, total: int) -> dict:
        """The manifest.json.out body."""
        return {"totalRecordCount": total, "processedRecordCount": self.processed,
                "successRecordCount": self.success, "errorRecordCount": self.error,
                "inputTokenCount": self.input_tokens, "outputTokenCount": self.output_tokens}


@dataclass(frozen=True)
class _InputFile:
    key: str
    out_name: str  # path of the .out below '<output prefix>/<job_id>/'


@dataclass
class _Plan:
    """What validation found: the input files, the record count and where media may live."""

    files: list[_InputFile]
    total: int
    media_folder: str | None  # key prefix media must start with; None for a single-file input
    media_folder_uri: str
    output_prefix: str  # '<output prefix>/<job_id>/' as a key prefix ('' for the bucket root)


@dataclass
class _Run:
    """One worker's hold on one job."""

    conn: sqlite3.Connection
    job: sqlite3.Row
    owner: str
    clock: Callable[[], datetime]
    lease: float
    counters: _Counters = field(default_factory=_Counters)
    total: int | None = None
    started: bool = False  # this run reset the counters and began answering records

    def __post_init__(self) -> None:
        self.total = self.job["total_records"]

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    def now(self) -> str:
        return _iso(self.clock())

    def lease_until(self) -> str:
        return _iso(self.clock() + timedelta(seconds=self.lease))


class _OutputFile:
    """Output lines of one input file, spooled to disk and published sorted by a hash of recordId."""

    def __init__(self, directory: Path, index: int) -> None:
        self.spool_path = directory / f"spool-{index}.jsonl"
        self.sorted_path = directory / f"sorted-{index}.jsonl"
        self._spool = open(self.spool_path, "w+b")
        # (hash of recordId, sequence, offset, length): small per record, the lines stay on disk.
        self._index: list[tuple[bytes, int, int, int]] = []
        self.published_count = 0
        self.finished = False  # every record of the input file is in

    def __len__(self) -> int:
        return len(self._index)

    def add(self, record_id: str, line: dict) -> None:
        data = json.dumps(line, separators=(",", ":")).encode("ascii") + b"\n"
        offset = self._spool.seek(0, os.SEEK_END)
        self._spool.write(data)
        digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).digest()[:8]
        self._index.append((digest, len(self._index), offset, len(data)))

    def publish(self, store: ObjectStore, key: str) -> None:
        """Write every line so far, in hash order, over the object at key in one atomic put."""
        self._spool.flush()
        with open(self.spool_path, "rb") as source, open(self.sorted_path, "wb") as target:
            for _, _, offset, length in sorted(self._index):
                source.seek(offset)
                target.write(source.read(length))
        store.put_file(key, self.sorted_path, content_type="application/jsonl")
        self.sorted_path.unlink(missing_ok=True)
        self.published_count = len(self._index)

    def close(self) -> None:
        self._spool.close()


def _iso(value: datetime) -> str:
    """A UTC timestamp string with fixed precision, so stored times compare as text."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_job_id() -> str:
    """12 random lowercase letters and digits, the form of a Bedrock job ID."""
    return "".join(secrets.choice(JOB_ID_ALPHABET) for _ in range(JOB_ID_LENGTH))


def _split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; the key may be empty."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def _folder(key: str) -> str:
    """A key prefix as a folder: '' for the bucket root, else ending in '/'."""
    key = key.strip("/")
    return f"{key}/" if key else ""


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


def _usage(body: Any) -> tuple[int, int]:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    counts = []
    for name in ("inputTokens", "outputTokens"):
        value = usage.get(name)
        counts.append(value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0)
    return counts[0], counts[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    return True


class LocalBatchEngine(InferenceBackend):
    """InferenceBackend that answers with a LocalAnalyzer and runs batch jobs like Bedrock would."""

    name = "local"

    def __init__(self, db_path: Path, store: ObjectStore, analyzer: LocalAnalyzer, *, min_records: int = 1,
                 workers: int = 1, region: str = "local", account: str = "000000000000",
                 step_delay: float = 0.0, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        if min_records < 1:
            raise ValueError("min_records must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not _REGION_RE.fullmatch(region) or not _ACCOUNT_RE.fullmatch(account):
            raise ValueError(f"region {region!r} / account {account!r} would not make a valid job ARN")
        if step_delay < 0 or poll_interval <= 0 or lease_seconds <= 0:
            raise ValueError("step_delay must be >= 0, poll_interval and lease_seconds > 0")
        self.db_path = Path(db_path)
        self.store = store
        self.analyzer = analyzer
        self.min_records = min_records
        self.workers = workers
        self.region = region
        self.account = account
        self.step_delay = step_delay
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds
        # Leases name host and process, so a restart can tell its dead predecessor's jobs apart.
        self.owner = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._job_threads: dict[str, threading.Thread] = {}

    def __repr__(self) -> str:
        return f"LocalBatchEngine(db_path={str(self.db_path)!r}, store={self.store!r}, workers={self.workers})"

    def _connect(self) -> closing[sqlite3.Connection]:
        return closing(connect(self.db_path))

    def arn(self, job_id: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{self.account}:model-invocation-job/{job_id}"


    def invoke(self, model_id: str, request: dict) -> dict:
        """Answer one messages-v1 request synchronously, raising errors shaped like InvokeModel's."""
        if not model_id:
            raise ValidationError("invoke needs a model id")
        try:
            return self.analyzer.respond(request)
        except AnalyzerError as exc:
            if exc.code == "decode_error":
                raise InferenceError(f"{exc.code}: {exc.message}", code="ModelErrorException",
                                     http_status=424) from exc
            raise ValidationError(f"{exc.code}: {exc.message}", http_status=400) from exc


    def create_batch_job(self, *, name: str, model_id: str, input_uri: str, output_uri: str, role_arn: str,
                         client_token: str, timeout_hours: int) -> str:
        """Record a Submitted job and return its ARN; the same client token returns the same ARN."""
        validate_create_job(name=name, input_uri=input_uri, output_uri=output_uri, role_arn=role_arn,
                            client_token=client_token, timeout_hours=timeout_hours)
        if not isinstance(model_id, str) or not model_id or len(model_id) > MAX_MODEL_ID_LEN:
            raise ValidationError(f"invalid model id {model_id!r}: 1-{MAX_MODEL_ID_LEN} characters")
        submitted = _utcnow()
        with self._connect() as conn:
            with transaction(conn):
                existing = local_jobs.get_job_by_token(conn, client_token)
                if existing is not None:
                    # Bedrock ignores a repeated token without error: the first job stands.
                    return existing["arn"]
                if local_jobs.get_job_by_name(conn, name) is not None:
                    raise ValidationError(f"a batch inference job named {name!r} already exists; "
                                          "job names must be unique", http_status=400)
                job_id = new_job_id()
                while local_jobs.get_job(conn, job_id) is not None:
                    job_id = new_job_id()
                local_jobs.insert_job(
                    conn, job_id=job_id, arn=self.arn(job_id), name=name, client_token=client_token,
                    model_id=model_id, role_arn=role_arn, input_uri=input_uri, output_uri=output_uri,
                    timeout_hours=timeout_hours, submit_time=_iso(submitted),
                    expiration_time=_iso(submitted + timedelta(hours=timeout_hours)))
        log.info("local batch job %s (%s) submitted", name, job_id)
        self._wake.set()
        return self.arn(job_id)

    def get_batch_job(self, job_id_or_arn: str) -> BatchJobInfo:
        job_id = job_id_from_arn(job_id_or_arn)
        with self._connect() as conn:
            row = local_jobs.get_job(conn, job_id)
        if row is None:
            raise NotFoundError(f"batch inference job {job_id_or_arn} not found", http_status=404)
        return _job_info(row)

    def list_batch_jobs(self, *, name_contains: str | None = None, status: str | None = None,
                        submitted_after: datetime | None = None) -> Iterator[BatchJobInfo]:
        """Jobs matching the filters, newest first (read at call time)."""
        if name_contains is not None:
            validate_job_name(name_contains)
        if status is not None:
            validate_batch_status(status)
        after = _iso(submitted_after) if submitted_after is not None else None
        with self._connect() as conn:
            rows = local_jobs.list_jobs(conn, name_contains=name_contains, status=status, submitted_after=after)
        return iter([_job_info(row) for row in rows])

    def stop_batch_job(self, job_id_or_arn: str) -> None:
        """Ask a job to stop: it shows Stopping, then Stopped once the worker reaches a record boundary."""
        validate_job_identifier(job_id_or_arn)
        job_id = job_id_from_arn(job_id_or_arn)
        with self._connect() as conn:
            with transaction(conn):
                row = local_jobs.get_job(conn, job_id)
                if row is None:
                    raise NotFoundError(f"batch inference job {job_id_or_arn} not found", http_status=404)
                if row["status"] in local_jobs.TERMINAL:
                    raise ConflictError(f"batch inference job {job_id} is already {row['status']} and cannot "
                                        "be stopped", http_status=400)
                local_jobs.request_stop(conn, job_id, _iso(_utcnow()))
        log.info("local batch job %s: stop requested", job_id)
        self._wake.set()


    def start(self) -> None:
        """Start the background worker (a no-op when it runs already)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="local-batch-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker; running jobs pause at the next record and resume at the next start."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread, self._thread = self._thread, None
            job_threads = list(self._job_threads.values())
        deadline = time.monotonic() + timeout
        for t in ([thread] if thread is not None else []) + job_threads:
            if t is threading.current_thread():
                continue
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("thread %s did not stop within %.1fs", t.name, timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._dispatch()
            except Exception:
                log.exception("local batch engine pass failed")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _dispatch(self) -> None:
        """Housekeeping, then hand claimable jobs to job threads up to `workers` at a time."""
        now = _utcnow()
        with self._connect() as conn:
            self._housekeeping(conn, now)
            with self._lock:
                for job_id in [j for j, t in self._job_threads.items() if not t.is_alive()]:
                    del self._job_threads[job_id]
                busy = set(self._job_threads)
            while len(busy) < self.workers and not self._stop.is_set():
                with transaction(conn):
                    row = local_jobs.claim_next_job(conn, self.owner, _iso(now),
                                                    _iso(now + timedelta(seconds=self.lease_seconds)), busy)
                if row is None:
                    return
                job_id = row["job_id"]
                busy.add(job_id)
                thread = threading.Thread(target=self._run_in_thread, args=(job_id,),
                                          name=f"local-batch-engine-{job_id}", daemon=True)
                with self._lock:
                    self._job_threads[job_id] = thread
                thread.start()

    def _run_in_thread(self, job_id: str) -> None:
        try:
            with self._connect() as conn:
                row = local_jobs.get_job(conn, job_id)
                if row is not None:
                    self._run_job(_Run(conn, row, self.owner, _utcnow, self.lease_seconds))
        except Exception:
            log.exception("local batch job %s: worker thread failed", job_id)
        finally:
            self._wake.set()

    def run_pending(self, now: datetime | None = None) -> int:
        """One synchronous pass: expire overdue jobs, then run every claimable job to its end.

        `now` fixes the clock for the whole pass (expiry, leases, timestamps). Returns how many
        jobs were run. Does nothing once stop() was called, until start().
        """
        clock = (lambda: now) if now is not None else _utcnow
        ran: list[str] = []
        with self._connect() as conn:
            self._housekeeping(conn, clock())
            while not self._stop.is_set():
                current = clock()
                with transaction(conn):
                    row = local_jobs.claim_next_job(
                        conn, self.owner, _iso(current),
                        _iso(current + timedelta(seconds=self.lease_seconds)), ran)
                if row is None:
                    break
                ran.append(row["job_id"])
                self._run_job(_Run(conn, row, self.owner, clock, self.lease_seconds))
        return len(ran)

    process_once = run_pending

    def _housekeeping(self, conn: sqlite3.Connection, now: datetime) -> None:
        """Free jobs held by dead processes on this host, then expire jobs that never started."""
        stamp = _iso(now)
        for row in local_jobs.live_claims(conn, stamp):
            host, _, rest = (row["claimed_by"] or "").partition(":")
            pid_text = rest.partition(":")[0]
            if host == _HOST and pid_text.isdigit() and int(pid_text) != os.getpid() \
                    and not _pid_alive(int(pid_text)):
                log.info("local batch job %s: its worker process %s is gone; taking it over",
                         row["job_id"], pid_text)
                local_jobs.release_claim(conn, row["job_id"], row["claimed_by"])
        with transaction(conn):
            expired = local_jobs.expire_unstarted(conn, stamp)
        for job_id in expired:
            log.info("local batch job %s expired before it started", job_id)

    def _run_job(self, run: _Run) -> None:
        """Drive a claimed job as far as it goes and record the outcome."""
        try:
            self._drive(run)
        except _StopRequested:
            self._finish(run, "Stopped", self._stopped_message(run))
        except _TimedOut:
            self._finish(run, "PartiallyCompleted",
                         f"The job timed out after {run.job['timeout_hours']} hours; "
                         f"{run.counters.processed} records were processed.")
        except _JobFailed as exc:
            log.info("local batch job %s failed: %s", run.job_id, exc)
            self._finish(run, "Failed", str(exc))
        except _Interrupted:
            log.info("local batch job %s paused by shutdown; it resumes at the next start", run.job_id)
            local_jobs.release_claim(run.conn, run.job_id, run.owner)
        except _ClaimLost:
            log.warning("local batch job %s was taken over by another worker", run.job_id)
        except Exception as exc:
            log.exception("local batch job %s failed unexpectedly", run.job_id)
            self._finish(run, "Failed", f"Internal error: {type(exc).__name__}: {exc}"[:2048])

    def _finish(self, run: _Run, status: str, message: str | None) -> None:
        if local_jobs.finish(run.conn, run.job_id, run.owner, status, run.now(), message):
            log.info("local batch job %s %s", run.job_id, status)

    def _stopped_message(self, run: _Run) -> str:
        # Before this run started, the counters left by an interrupted earlier run still stand.
        processed = run.counters.processed if run.started else run.job["processed_records"]
        of = f" of {run.total}" if run.total is not None else ""
        return f"Stopped by request after {processed}{of} records."

    def _drive(self, run: _Run) -> None:
        job = run.job
        status = job["status"]
        if job["stop_requested"] or status == "Stopping":
            raise _StopRequested()
        if status == "Submitted":
            self._pause()
            self._advance(run, "Validating")
            self._pause()
        plan = self._validate(run)
        run.total = plan.total
        if status in ("Submitted", "Validating"):
            self._advance(run, "Scheduled", total_records=plan.total)
            self._pause()
        if status != "InProgress" and run.clock() >= _parse_time(job["expiration_time"]):
            self._finish(run, "Expired", f"The job was not started before its timeout of "
                                         f"{job['timeout_hours']} hours.")
            return
        # Entering (or re-entering after a restart) InProgress starts the records from the top.
        self._advance(run, "InProgress", total_records=plan.total, processed_records=0, success_records=0,
                      error_records=0, input_tokens=0, output_tokens=0, message=None)
        run.started = True
        self._clear_outputs(plan.output_prefix)
        self._process(run, plan)
        counters = run.counters
        if counters.error == 0:
            self._finish(run, "Completed", None)
        elif counters.success == 0:
            self._finish(run, "Failed", f"All {counters.error} records failed; the error lines in the "
                                        f"output say why. First error: {counters.first_error}"[:2048])
        else:
            self._finish(run, "PartiallyCompleted",
                         f"{counters.error} of {plan.total} records failed; see the error lines in the output.")

    def _pause(self) -> None:
        """Linger in a status for the demo's step_delay; a shutdown cuts it short."""
        if self.step_delay and self._stop.wait(self.step_delay):
            raise _Interrupted()

    def _advance(self, run: _Run, status: str, **fields: Any) -> None:
        if local_jobs.advance(run.conn, run.job_id, run.owner, status, run.now(), run.lease_until(), **fields):
            log.info("local batch job %s %s", run.job_id, status)
            return
        if local_jobs.stop_requested(run.conn, run.job_id):
            raise _StopRequested()
        raise _ClaimLost()


    def _validate(self, run: _Run) -> _Plan:
        """Check the job's input the way Bedrock's Validating step does; raise _JobFailed if unusable."""
        job = run.job
        input_uri, output_uri = job["input_uri"], job["output_uri"]
        in_bucket, in_key = _split_s3(input_uri)
        out_bucket, out_key = _split_s3(output_uri)
        for bucket, uri in ((in_bucket, input_uri), (out_bucket, output_uri)):
            if bucket != self.store.bucket:
                raise _JobFailed(f"Access denied to {uri}: the local engine can only reach bucket "
                                 f"{self.store.bucket!r}.")
        single_file = in_key.endswith(".jsonl")
        output_prefix = f"{_folder(out_key)}{run.job_id}/"
        if single_file:
            if not self.store.exists(in_key):
                raise _JobFailed(f"No .jsonl input file found at {input_uri}.")
            sizes = {in_key: self.store.head(in_key).size}
            files = [_InputFile(in_key, PurePosixPath(in_key).name + ".out")]
            media_folder, media_folder_uri = None, input_uri
        else:
            media_folder = _folder(in_key)
            media_folder_uri = f"s3://{in_bucket}/{media_folder}"
            sizes, files = {}, []
            for info in self.store.list(media_folder):
                if info.key.endswith(".jsonl") and not info.key.startswith(output_prefix):
                    sizes[info.key] = info.size
                    files.append(_InputFile(info.key, info.key[len(media_folder):] + ".out"))
            if not files:
                raise _JobFailed(f"No .jsonl input files found under {input_uri}.")
        total = 0
        for input_file in files:
            if sizes[input_file.key] > MAX_INPUT_FILE_BYTES:
                raise _JobFailed(f"Input file {input_file.key} is larger than the {MAX_INPUT_FILE_BYTES} byte "
                                 "limit per file.")
            count = 0
            for _ in self._records(input_file):
                count += 1
                if count > MAX_RECORDS_PER_FILE:
                    raise _JobFailed(f"Input file {input_file.key} has more than {MAX_RECORDS_PER_FILE} records.")
            total += count
            if total > MAX_RECORDS_PER_JOB:
                raise _JobFailed(f"The job has more than {MAX_RECORDS_PER_JOB} records.")
        if total < self.min_records:
            raise _JobFailed(f"The job has {total} records, fewer than the minimum of {self.min_records} "
                             "records per batch inference job.")
        return _Plan(files, total, media_folder, media_folder_uri, output_prefix)

    def _records(self, input_file: _InputFile) -> Iterator[dict]:
        """Stream the records of one input file, raising _JobFailed on the first malformed line."""
        name = input_file.key
        try:
            stream: BinaryIO = self.store.open_read(name)
        except StorageError as exc:
            raise _JobFailed(f"Cannot read input file {name}: {exc}") from exc
        with stream:
            for number, raw in enumerate(stream, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    raise _JobFailed(f"Input file {name} line {number} is not valid JSON.") from None
                if not isinstance(record, dict):
                    raise _JobFailed(f"Input file {name} line {number} is not a JSON object.")
                if not isinstance(record.get("recordId"), str) or not record["recordId"]:
                    raise _JobFailed(f"Input file {name} line {number} has no recordId string.")
                if not isinstance(record.get("modelInput"), dict):
                    raise _JobFailed(f"Input file {name} line {number} has no modelInput object.")
                yield record


    def _clear_outputs(self, output_prefix: str) -> None:
        """Drop what an interrupted earlier run wrote, so the outputs match this run's counters."""
        stale = [info.key for info in self.store.list(output_prefix)]
        if stale:
            self.store.delete_many(stale)

    def _process(self, run: _Run, plan: _Plan) -> None:
        """Answer every record, publishing each file's .out (and the manifest) as it grows."""
        manifest_key = f"{plan.output_prefix}manifest.json.out"
        expiration = _parse_time(run.job["expiration_time"])
        with tempfile.TemporaryDirectory(prefix="local-batch-") as tmp:
            for index, input_file in enumerate(plan.files):
                out = _OutputFile(Path(tmp), index)
                out_key = f"{plan.output_prefix}{input_file.out_name}"
                try:
                    for record in self._records(input_file):
                        self._between_records(run, expiration, lambda: self._publish(out, out_key, manifest_key,
                                                                                     run, plan))
                        record_id = record["recordId"]
                        line = self._answer(record, plan)
                        out.add(record_id, line)
                        self._count(run, line)
                        if len(out) - out.published_count >= max(MIN_RECORDS_PER_FLUSH,
                                                                 FLUSH_FRACTION * out.published_count):
                            self._publish(out, out_key, manifest_key, run, plan)
                    out.finished = True
                    self._publish(out, out_key, manifest_key, run, plan)
                finally:
                    out.close()

    def _between_records(self, run: _Run, expiration: datetime, publish: Callable[[], None]) -> None:
        """The record boundary: honour shutdown, stop requests and the job's timeout."""
        reason: type[Exception] | None = None
        if self._stop.is_set():
            reason = _Interrupted
        elif local_jobs.stop_requested(run.conn, run.job_id):
            reason = _StopRequested
        elif run.clock() >= expiration:
            reason = _TimedOut
        if reason is not None:
            publish()
            raise reason()

    def _publish(self, out: _OutputFile, out_key: str, manifest_key: str, run: _Run, plan: _Plan) -> None:
        """Replace the file's .out (unless nothing was answered in it yet) and the manifest."""
        if len(out) or out.finished:
            out.publish(self.store, out_key)
        body = json.dumps(run.counters.manifest(plan.total)).encode("utf-8")
        self.store.put_bytes(manifest_key, body, content_type="application/json")

    def _count(self, run: _Run, line: dict) -> None:
        """Add one output line to the counters and store them, which also renews the lease."""
        counters = run.counters
        counters.processed += 1
        if "error" in line:
            counters.error += 1
            if counters.first_error is None:
                counters.first_error = line["error"]["errorMessage"]
        else:
            counters.success += 1
            tokens_in, tokens_out = _usage(line["modelOutput"])
            counters.input_tokens += tokens_in
            counters.output_tokens += tokens_out
        ok = local_jobs.record_progress(
            run.conn, run.job_id, run.owner, run.now(), run.lease_until(), processed=counters.processed,
            success=counters.success, error=counters.error, input_tokens=counters.input_tokens,
            output_tokens=counters.output_tokens)
        if not ok:
            raise _ClaimLost()

    def _answer(self, record: dict, plan: _Plan) -> dict:
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

    def _media_problem(self, uri: Any, plan: _Plan) -> str | None:
        """Why Bedrock could not read this media URI in this job, or None when it can."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            return f"Invalid s3Location uri {uri!r}: expected s3://bucket/key."
        if plan.media_folder is None:
            return (f"The media {uri} cannot be read: the job's input {plan.media_folder_uri} is a single .jsonl "
                    "file, but media referenced by S3 URI needs the input to be the folder that holds "
                    "the .jsonl files and the media.")
        bucket, key = _split_s3(uri)
        if bucket != self.store.bucket or not key.startswith(plan.media_folder) or key == plan.media_folder:
            return (f"The media {uri} is outside the job's input folder {plan.media_folder_uri}: all media "
                    "referenced by S3 URI must be in the same bucket and under the input folder.")
        return None


def _job_info(row: sqlite3.Row) -> BatchJobInfo:
    """The Bedrock-shaped view of one stored job; counters appear once validation counted records."""
    counted = row["total_records"] is not None
    return BatchJobInfo(
        job_id=row["job_id"],
        job_arn=row["arn"],
        name=row["name"],
        status=row["status"],
        message=row["message"],
        model_id=row["model_id"],
        client_token=row["client_token"],
        submit_time=_parse_time(row["submit_time"]),
        last_modified_time=_parse_time(row["last_modified_time"]),
        end_time=_parse_time(row["end_time"]),
        expiration_time=_parse_time(row["expiration_time"]),
        input_uri=row["input_uri"],
        output_uri=row["output_uri"],
        total_records=row["total_records"],
        processed_records=row["processed_records"] if counted else None,
        success_records=row["success_records"] if counted else None,
        error_records=row["error_records"] if counted else None,
    )
