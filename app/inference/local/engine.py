"""LocalBatchEngine: the offline stand-in for Bedrock, answering on-demand calls and running batch jobs.

Jobs live in the local_batch_jobs table and move through Bedrock's statuses:
Submitted -> Validating -> Scheduled -> InProgress -> Completed | PartiallyCompleted | Failed,
Stopping -> Stopped on request, Expired when not started within timeout_hours.

Choices where Bedrock's behaviour is not documented (see docs/analysis-contract.md and
docs/bedrock-facts.md for what is):
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

import logging
import re
import secrets
import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

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
from app.inference.local import jobs_store
from app.inference.local.analyzer import AnalyzerError, LocalAnalyzer
from app.inference.local.job_run import JobExecutor, Run
from app.storage.base import ObjectStore
from app.utils import leases
from app.utils.background import BackgroundWorker
from app.utils.clock import Clock, iso, parse_iso, utcnow
from app.utils.holders import holder_id
from app.utils.sqlite import connect, transaction

log = logging.getLogger(__name__)

JOB_ID_ALPHABET = string.ascii_lowercase + string.digits
JOB_ID_LENGTH = 12
MAX_MODEL_ID_LEN = 2048
DEFAULT_LEASE_SECONDS = 600.0
DEFAULT_POLL_INTERVAL = 5.0
_REGION_RE = re.compile(r"[a-z0-9-]{1,20}")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")


def new_job_id() -> str:
    """12 random lowercase letters and digits, the form of a Bedrock job ID."""
    return "".join(secrets.choice(JOB_ID_ALPHABET) for _ in range(JOB_ID_LENGTH))


class LocalBatchEngine(BackgroundWorker, InferenceBackend):
    """InferenceBackend that answers with a LocalAnalyzer and runs batch jobs like Bedrock would.

    Started, it runs up to `workers` jobs at once in threads and wakes as soon as a job is submitted or
    stopped; not started, run_once(now) runs every runnable job to its end in the caller's thread.
    """

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
        super().__init__(name="local-batch-engine", interval=poll_interval, slots=workers)
        self.db_path = Path(db_path)
        self.store = store
        self.analyzer = analyzer
        self.min_records = min_records
        self.workers = workers
        self.region = region
        self.account = account
        self.lease_seconds = lease_seconds
        # Leases name host and process, so a restart can tell its dead predecessor's jobs apart.
        self.owner = holder_id()
        self.executor = JobExecutor(store, analyzer, min_records=min_records, step_delay=step_delay,
                                    stopping=self.stopping)
        # Called after each job this engine ran stops running (the app wakes its poller with it).
        self.on_job_end: Callable[[], None] | None = None

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
        submitted = utcnow()
        with self._connect() as conn:
            with transaction(conn):
                existing = jobs_store.get_job_by_token(conn, client_token)
                if existing is not None:
                    # Bedrock ignores a repeated token without error: the first job stands.
                    return existing["arn"]
                if jobs_store.get_job_by_name(conn, name) is not None:
                    raise ValidationError(f"a batch inference job named {name!r} already exists; "
                                          "job names must be unique", http_status=400)
                job_id = new_job_id()
                while jobs_store.get_job(conn, job_id) is not None:
                    job_id = new_job_id()
                jobs_store.insert_job(
                    conn, job_id=job_id, arn=self.arn(job_id), name=name, client_token=client_token,
                    model_id=model_id, role_arn=role_arn, input_uri=input_uri, output_uri=output_uri,
                    timeout_hours=timeout_hours, submit_time=iso(submitted),
                    expiration_time=iso(submitted + timedelta(hours=timeout_hours)))
        log.info("local batch job %s (%s) submitted", name, job_id)
        self.wake()
        return self.arn(job_id)

    def get_batch_job(self, job_id_or_arn: str) -> BatchJobInfo:
        job_id = job_id_from_arn(job_id_or_arn)
        with self._connect() as conn:
            row = jobs_store.get_job(conn, job_id)
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
        after = iso(submitted_after) if submitted_after is not None else None
        with self._connect() as conn:
            rows = jobs_store.list_jobs(conn, name_contains=name_contains, status=status, submitted_after=after)
        return iter([_job_info(row) for row in rows])

    def stop_batch_job(self, job_id_or_arn: str) -> None:
        """Ask a job to stop: it shows Stopping, then Stopped once the worker reaches a record boundary."""
        validate_job_identifier(job_id_or_arn)
        job_id = job_id_from_arn(job_id_or_arn)
        with self._connect() as conn:
            with transaction(conn):
                row = jobs_store.get_job(conn, job_id)
                if row is None:
                    raise NotFoundError(f"batch inference job {job_id_or_arn} not found", http_status=404)
                if row["status"] in jobs_store.TERMINAL:
                    raise ConflictError(f"batch inference job {job_id} is already {row['status']} and cannot "
                                        "be stopped", http_status=400)
                jobs_store.request_stop(conn, job_id, iso())
        log.info("local batch job %s: stop requested", job_id)
        self.wake()

    def run_once(self, now: datetime | None = None) -> int:
        """Free jobs of dead workers, expire overdue ones, then run claimable jobs while workers are free.

        `now` is the step's time (expiry, leases, timestamps). Returns how many jobs were started; not
        started, the engine runs them to their end here. Does nothing once stop() was called."""
        clock = Clock(now)
        started: list[str] = []
        with self._connect() as conn:
            self._housekeeping(conn, clock.start)
            while len(self.busy()) < self.workers and not self.stopping.is_set():
                with transaction(conn):
                    row = jobs_store.claim_next_job(conn, self.owner, clock.now(), self.lease_seconds,
                                                    exclude=self.busy() | set(started))
                if row is None:
                    break
                started.append(row["job_id"])
                self.spawn(row["job_id"], lambda job_id=row["job_id"]: self._run_job(job_id, clock))
        return len(started)

    def _run_job(self, job_id: str, clock: Clock) -> None:
        with self._connect() as conn:
            row = jobs_store.get_job(conn, job_id)
            if row is not None:
                self.executor.run(Run(conn, row, self.owner, clock.now, self.lease_seconds))
        if self.on_job_end is not None:
            self.on_job_end()

    def _housekeeping(self, conn: sqlite3.Connection, now: datetime) -> None:
        """Free jobs held by dead processes on this host, then expire jobs that never started."""
        with transaction(conn):
            for job_id in leases.free_dead_claims(conn, jobs_store.CLAIMS, now):
                log.info("local batch job %s: its worker process is gone; taking it over", job_id)
            expired = jobs_store.expire_unstarted(conn, iso(now))
        for job_id in expired:
            log.info("local batch job %s expired before it started", job_id)


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
        submit_time=parse_iso(row["submit_time"]),
        last_modified_time=parse_iso(row["last_modified_time"]),
        end_time=parse_iso(row["end_time"]),
        expiration_time=parse_iso(row["expiration_time"]),
        input_uri=row["input_uri"],
        output_uri=row["output_uri"],
        total_records=row["total_records"],
        processed_records=row["processed_records"] if counted else None,
        success_records=row["success_records"] if counted else None,
        error_records=row["error_records"] if counted else None,
    )
