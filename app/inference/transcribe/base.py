"""Transcription service interface: batch speech-to-text jobs as Amazon Transcribe runs them.

Two implementations: `aws` (Amazon Transcribe through boto3, aws.py) and `local` (the offline stand-in,
local.py), which answers with Transcribe's own statuses, errors and output JSON so the app's code path is
the same. Errors reuse the inference layer's typed classes (transient ones are retried by the caller).
Facts and limits: docs/transcribe-facts.md.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from app.inference.base import ValidationError

# TranscriptionJobStatus (docs/transcribe-facts.md §Statuses).
STATUSES = ("QUEUED", "IN_PROGRESS", "FAILED", "COMPLETED")
TERMINAL = frozenset({"FAILED", "COMPLETED"})
MEDIA_FORMATS = ("mp3", "mp4", "wav", "flac", "ogg", "amr", "webm", "m4a")

# Fixed quotas of batch jobs (docs/transcribe-facts.md §Limits): the AWS guide's 4 h (a later reading says
# 8 h; the lower one is kept), 2 GB, and at least 500 ms of audio.
MAX_AUDIO_SECONDS = 14_400
MAX_MEDIA_BYTES = 2 * 1000**3
MIN_AUDIO_SECONDS = 0.5
MIN_SPEAKERS, MAX_SPEAKERS = 2, 30
LIST_PAGE_SIZE = 100  # ListTranscriptionJobs' MaxResults ceiling

# TranscriptionJobName: 1-200 of [0-9a-zA-Z._-]; OutputKey: 1-1024 of [a-zA-Z0-9-_.!*'()/].
JOB_NAME_RE = re.compile(r"[0-9a-zA-Z._-]{1,200}")
OUTPUT_KEY_RE = re.compile(r"[a-zA-Z0-9\-_.!*'()/]{1,1024}")
BUCKET_RE = re.compile(r"[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]")
LANGUAGE_CODE_RE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")


@dataclass(frozen=True)
class TranscriptionJobInfo:
    """One job as the service reports it; a list summary has no media or transcript URI."""

    name: str
    status: str
    failure_reason: str | None = None
    language_code: str | None = None
    media_uri: str | None = None
    transcript_uri: str | None = None
    created: datetime | None = None
    completed: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class JobRequest:
    """What StartTranscriptionJob is asked: the media, where the JSON goes, language and speakers."""

    name: str
    media_uri: str
    media_format: str
    output_bucket: str
    output_key: str
    language_code: str | None = None  # None: identify the language
    max_speakers: int | None = None  # None: no speaker labels


def _check(ok: bool, what: str, value: object, rule: str) -> None:
    if not ok:
        raise ValidationError(f"invalid {what} {value!r}: {rule}", code="BadRequestException")


def validate_request(request: JobRequest) -> JobRequest:
    """Check the parameters as Transcribe would, before any call (every implementation)."""
    _check(JOB_NAME_RE.fullmatch(request.name or "") is not None, "job name", request.name,
           "1-200 letters, digits, '.', '_' or '-'")
    _check(isinstance(request.media_uri, str) and request.media_uri.startswith("s3://")
           and len(request.media_uri) <= 2000, "media URI", request.media_uri, "an s3:// URI of at most 2000 chars")
    _check(request.media_format in MEDIA_FORMATS, "media format", request.media_format,
           f"one of {', '.join(MEDIA_FORMATS)}")
    _check(BUCKET_RE.fullmatch(request.output_bucket or "") is not None, "output bucket", request.output_bucket,
           "a bucket name")
    _check(OUTPUT_KEY_RE.fullmatch(request.output_key or "") is not None, "output key", request.output_key,
           "1-1024 of letters, digits and - _ . ! * ' ( ) /")
    if request.language_code is not None:
        _check(LANGUAGE_CODE_RE.fullmatch(request.language_code) is not None, "language code",
               request.language_code, "a code such as en-US")
    if request.max_speakers is not None:
        _check(MIN_SPEAKERS <= request.max_speakers <= MAX_SPEAKERS, "speaker count", request.max_speakers,
               f"{MIN_SPEAKERS}-{MAX_SPEAKERS}")
    return request


class TranscriptionService(ABC):
    """Batch transcription jobs: start, look up by name, list by name, as Amazon Transcribe offers them."""

    name: str  # 'aws' | 'local'

    @abstractmethod
    def start_job(self, request: JobRequest) -> TranscriptionJobInfo:
        """StartTranscriptionJob; ConflictError when the name is taken, ValidationError when refused."""

    @abstractmethod
    def get_job(self, name: str) -> TranscriptionJobInfo:
        """GetTranscriptionJob; NotFoundError for an unknown name."""

    @abstractmethod
    def list_jobs(self, *, name_contains: str, status: str | None = None) -> Iterator[TranscriptionJobInfo]:
        """ListTranscriptionJobs across every page, newest first (summaries: no URIs)."""
