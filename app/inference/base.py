"""Inference backend interface, batch job record, typed errors and Bedrock input validators."""
from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

log = logging.getLogger(__name__)

BATCH_STATUSES = (
    "Submitted", "Validating", "Scheduled", "InProgress", "Completed",
    "PartiallyCompleted", "Failed", "Stopping", "Stopped", "Expired",
)
TERMINAL_STATUSES = frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})

MIN_TIMEOUT_HOURS = 24
MAX_TIMEOUT_HOURS = 168
MAX_JOB_NAME_LEN = 63
MAX_S3_URI_LEN = 1024
MAX_CLIENT_TOKEN_LEN = 256
MAX_ROLE_ARN_LEN = 2048

# The service's own patterns, kept for reference and for the equivalence tests. Do not use
# AWS_JOB_NAME_PATTERN directly: "-*" followed by a class containing "-" backtracks
# exponentially in Python's re on names such as "a" + "-" * 40 + "_".
AWS_JOB_NAME_PATTERN = r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}"
AWS_CLIENT_TOKEN_PATTERN = r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}"

# Linear-time equivalents of the AWS patterns with the length limits folded in (use fullmatch).
JOB_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9+.\-]{0,62}")
CLIENT_TOKEN_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,254}[a-zA-Z0-9])?")
BATCH_S3_URI_RE = re.compile(
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
)
ROLE_ARN_RE = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
JOB_ID_RE = re.compile(r"[a-z0-9]{12}")
JOB_ARN_RE = re.compile(
    r"arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/(?P<job_id>[a-z0-9]{12})"
)


class InferenceError(Exception):
    """A failed inference or batch-control call, classified for retry decisions."""

    default_code = "InferenceError"
    default_transient = False

    def __init__(self, message: str, *, code: str | None = None, transient: bool | None = None,
                 http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.transient = self.default_transient if transient is None else transient
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ThrottlingError(InferenceError):
    """Too many requests; retry later."""

    default_code = "ThrottlingException"
    default_transient = True


class QuotaExceededError(InferenceError):
    """A service quota (e.g. concurrent batch jobs) is full; submit again later."""

    default_code = "ServiceQuotaExceededException"
    default_transient = True


class ValidationError(InferenceError):
    """The request is malformed; retrying the same request cannot succeed."""

    default_code = "ValidationException"


class NotFoundError(InferenceError):
    """The job, model or resource does not exist."""

    default_code = "ResourceNotFoundException"


class AccessDeniedError(InferenceError):
    """The caller (or its credentials) may not perform the operation."""

    default_code = "AccessDeniedException"


class ConflictError(InferenceError):
    """The resource is in a state that forbids the operation, e.g. stopping a finished job."""

    default_code = "ConflictException"


class TransientServiceError(InferenceError):
    """A server-side or network failure (5xx, timeout, reset) worth retrying."""

    default_code = "ServiceUnavailable"
    default_transient = True


@dataclass(frozen=True)
class BatchJobInfo:
    """A snapshot of one batch inference job as the service reports it."""

    job_id: str
    job_arn: str
    name: str
    status: str
    message: str | None = None
    model_id: str | None = None
    client_token: str | None = None
    submit_time: datetime | None = None
    last_modified_time: datetime | None = None
    end_time: datetime | None = None
    expiration_time: datetime | None = None
    input_uri: str | None = None
    output_uri: str | None = None
    total_records: int | None = None
    processed_records: int | None = None
    success_records: int | None = None
    error_records: int | None = None

    @property
    def terminal(self) -> bool:
        """True once the job can no longer change (an unknown status is treated as still running)."""
        return self.status in TERMINAL_STATUSES

    @property
    def known_status(self) -> bool:
        """True when the status is one of the ten documented values."""
        return self.status in BATCH_STATUSES


def _check(ok: bool, what: str, value: object, rule: str) -> None:
    """Raise ValidationError naming the field, the offending value and the rule."""
    if not ok:
        raise ValidationError(f"invalid {what} {value!r}: {rule}")


def validate_job_name(name: str) -> str:
    """Check a batch job name against Bedrock's jobName constraints."""
    _check(isinstance(name, str) and JOB_NAME_RE.fullmatch(name) is not None, "job name", name,
           f"1-{MAX_JOB_NAME_LEN} chars, start with a letter or digit, then only letters, digits, '+', '-', '.'")
    return name


def validate_batch_s3_uri(uri: str) -> str:
    """Check an input/output S3 URI against Bedrock's strict batch S3Uri pattern."""
    _check(isinstance(uri, str) and len(uri) <= MAX_S3_URI_LEN and BATCH_S3_URI_RE.fullmatch(uri) is not None,
           "batch S3 URI", uri,
           "s3://bucket[/segment...][/] where segments use only letters, digits and - ! _ * ' ( ) .")
    return uri


def validate_client_token(token: str) -> str:
    """Check a clientRequestToken against Bedrock's idempotency-token pattern."""
    _check(isinstance(token, str) and CLIENT_TOKEN_RE.fullmatch(token) is not None, "client token", token,
           f"1-{MAX_CLIENT_TOKEN_LEN} letters, digits and inner '-'")
    return token


def validate_timeout_hours(hours: int) -> int:
    """Check timeoutDurationInHours is an integer in Bedrock's 24-168 range."""
    ok = isinstance(hours, int) and not isinstance(hours, bool) and MIN_TIMEOUT_HOURS <= hours <= MAX_TIMEOUT_HOURS
    _check(ok, "timeout hours", hours, f"an integer from {MIN_TIMEOUT_HOURS} to {MAX_TIMEOUT_HOURS}")
    return hours


def validate_role_arn(role_arn: str) -> str:
    """Check the batch service role ARN against Bedrock's roleArn pattern."""
    _check(isinstance(role_arn, str) and len(role_arn) <= MAX_ROLE_ARN_LEN
           and ROLE_ARN_RE.fullmatch(role_arn) is not None, "role ARN", role_arn, "arn:aws:iam::<account>:role/<name>")
    return role_arn


def validate_create_job(*, name: str, input_uri: str, output_uri: str, role_arn: str, client_token: str,
                        timeout_hours: int) -> None:
    """Check CreateModelInvocationJob's parameters as Bedrock would (every backend, before anything else)."""
    validate_job_name(name)
    validate_batch_s3_uri(input_uri)
    validate_batch_s3_uri(output_uri)
    validate_role_arn(role_arn)
    validate_client_token(client_token)
    validate_timeout_hours(timeout_hours)


def validate_batch_status(status: str) -> str:
    """Check a status filter is one of the documented batch statuses."""
    _check(status in BATCH_STATUSES, "batch status", status, f"one of {', '.join(BATCH_STATUSES)}")
    return status


def validate_job_identifier(job_id_or_arn: str) -> str:
    """Check a value is a batch job ARN or a bare 12-character job ID."""
    ok = isinstance(job_id_or_arn, str) and (
        JOB_ID_RE.fullmatch(job_id_or_arn) is not None or JOB_ARN_RE.fullmatch(job_id_or_arn) is not None)
    _check(ok, "batch job identifier", job_id_or_arn, "a model-invocation-job ARN or a 12-character lowercase ID")
    return job_id_or_arn


def job_id_from_arn(arn: str) -> str:
    """Return the 12-character job ID from a job ARN (a bare ID is returned unchanged)."""
    validate_job_identifier(arn)
    match = JOB_ARN_RE.fullmatch(arn)
    return match.group("job_id") if match else arn


class InferenceBackend(ABC):
    """On-demand model calls and batch job control; 'bedrock' and 'local' implement it."""

    name: str

    @abstractmethod
    def invoke(self, model_id: str, request: dict) -> dict:
        """Run one Nova messages-v1 request and return the parsed response body."""

    @abstractmethod
    def create_batch_job(self, *, name: str, model_id: str, input_uri: str, output_uri: str, role_arn: str,
                         client_token: str, timeout_hours: int) -> str:
        """Submit a batch inference job and return its ARN."""

    @abstractmethod
    def get_batch_job(self, job_id_or_arn: str) -> BatchJobInfo:
        """Return the current state of one batch job."""

    @abstractmethod
    def list_batch_jobs(self, *, name_contains: str | None = None, status: str | None = None,
                        submitted_after: datetime | None = None) -> Iterator[BatchJobInfo]:
        """Yield batch jobs matching the filters, across all pages."""

    @abstractmethod
    def stop_batch_job(self, job_id_or_arn: str) -> None:
        """Ask the service to stop a batch job."""

    def find_batch_job(self, name: str | None = None, client_token: str | None = None,
                       submitted_after: datetime | None = None) -> BatchJobInfo | None:
        """Return the newest job with this exact name and/or client token, or None."""
        # Heals a crash between create_batch_job and recording its ARN: the name and the token
        # are chosen (and stored) by the app before submitting, so they identify the job.
        if name is None and client_token is None:
            raise ValidationError("find_batch_job needs a name or a client token")
        best: BatchJobInfo | None = None
        for job in self.list_batch_jobs(name_contains=name, submitted_after=submitted_after):
            if name is not None and job.name != name:
                continue
            if client_token is not None and job.client_token != client_token:
                continue
            if best is None or _submitted_later(job, best):
                best = job
        return best


def _submitted_later(a: BatchJobInfo, b: BatchJobInfo) -> bool:
    """True when a was submitted after b (a missing time counts as oldest)."""
    if a.submit_time is None:
        return False
    return b.submit_time is None or a.submit_time > b.submit_time
