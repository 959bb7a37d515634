"""Amazon Transcribe batch jobs through boto3: the only module of the app that calls Transcribe.

One `transcribe` client with botocore's *standard* retry mode set explicitly: in it (and in adaptive mode)
LimitExceededException counts as throttling and is retried, while the legacy default retries it only for
Kinesis (docs/transcribe-facts.md §Errors and retries). Errors come back as the inference layer's typed
classes: throttling and server faults are transient, a refused request or a missing job is not.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app.inference.base import (AccessDeniedError, ConflictError, InferenceError, NotFoundError, ThrottlingError,
                                TransientServiceError, ValidationError)
from app.inference.bedrock import mapped_errors
from app.inference.transcribe.base import (LIST_PAGE_SIZE, STATUSES, JobRequest, TranscriptionJobInfo,
                                           TranscriptionService, validate_request)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
# Get answers an unknown name with BadRequestException on moto and, by its API model, possibly
# NotFoundException on AWS (docs/transcribe-facts.md §moto): both mean "no such job".
_NOT_FOUND_TEXT = "couldn't be found"
ERROR_CLASSES: dict[str, type[InferenceError]] = {
    "BadRequestException": ValidationError,
    "NotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "LimitExceededException": ThrottlingError,
    "ThrottlingException": ThrottlingError,
    "TooManyRequestsException": ThrottlingError,
    "InternalFailureException": TransientServiceError,
    "ServiceUnavailableException": TransientServiceError,
    "AccessDeniedException": AccessDeniedError,
    "UnrecognizedClientException": AccessDeniedError,
    "InvalidSignatureException": AccessDeniedError,
    "ExpiredTokenException": AccessDeniedError,
}


def client_config() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=CONNECT_TIMEOUT,
                  read_timeout=READ_TIMEOUT, tcp_keepalive=True)


def translate_client_error(exc: ClientError, operation: str) -> InferenceError:
    error = exc.response.get("Error", {})
    code = error.get("Code") or "Unknown"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    text = error.get("Message") or code
    cls = ERROR_CLASSES.get(code)
    if code == "BadRequestException" and _NOT_FOUND_TEXT in text:
        cls = NotFoundError
    if cls is None:
        cls = TransientServiceError if (status or 0) >= 500 else InferenceError
    return cls(f"{operation} failed: {text}", code=code, http_status=status)


def _info(job: dict[str, Any]) -> TranscriptionJobInfo:
    status = job.get("TranscriptionJobStatus") or "QUEUED"  # a fresh start answer may carry none
    if status not in STATUSES:
        log.warning("transcription job %s has undocumented status %r", job.get("TranscriptionJobName"), status)
    return TranscriptionJobInfo(
        name=job.get("TranscriptionJobName") or "", status=status, failure_reason=job.get("FailureReason"),
        language_code=job.get("LanguageCode"), media_uri=(job.get("Media") or {}).get("MediaFileUri"),
        transcript_uri=(job.get("Transcript") or {}).get("TranscriptFileUri"),
        created=job.get("CreationTime"), completed=job.get("CompletionTime"))


class AwsTranscriber(TranscriptionService):
    """TranscriptionService backed by Amazon Transcribe."""

    name = "aws"

    def __init__(self, *, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 client: Any = None) -> None:
        if client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            client = session.client("transcribe", endpoint_url=endpoint_url, config=client_config())
        self.client = client

    def start_job(self, request: JobRequest) -> TranscriptionJobInfo:
        validate_request(request)
        params: dict[str, Any] = {
            "TranscriptionJobName": request.name, "Media": {"MediaFileUri": request.media_uri},
            "MediaFormat": request.media_format, "OutputBucketName": request.output_bucket,
            "OutputKey": request.output_key,
        }
        # Exactly one of LanguageCode and IdentifyLanguage (both at once is a BadRequestException).
        if request.language_code:
            params["LanguageCode"] = request.language_code
        else:
            params["IdentifyLanguage"] = True
        if request.max_speakers:  # ShowSpeakerLabels and MaxSpeakerLabels go together
            params["Settings"] = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": request.max_speakers}
        with mapped_errors("StartTranscriptionJob", translate_client_error):
            response = self.client.start_transcription_job(**params)
        log.info("started transcription job %s", request.name)
        return _info(response.get("TranscriptionJob") or {"TranscriptionJobName": request.name})

    def get_job(self, name: str) -> TranscriptionJobInfo:
        with mapped_errors("GetTranscriptionJob", translate_client_error):
            response = self.client.get_transcription_job(TranscriptionJobName=name)
        return _info(response["TranscriptionJob"])

    def list_jobs(self, *, name_contains: str, status: str | None = None) -> Iterator[TranscriptionJobInfo]:
        """Every page (boto3 has no paginator for this call, so NextToken is followed here)."""
        params: dict[str, Any] = {"JobNameContains": name_contains, "MaxResults": LIST_PAGE_SIZE}
        if status is not None:
            params["Status"] = status
        return self._pages(params)

    def _pages(self, params: dict[str, Any]) -> Iterator[TranscriptionJobInfo]:
        token = None
        while True:
            with mapped_errors("ListTranscriptionJobs", translate_client_error):
                page = self.client.list_transcription_jobs(**params, **({"NextToken": token} if token else {}))
            for summary in page.get("TranscriptionJobSummaries", []):
                yield _info(summary)
            token = page.get("NextToken")
            if not token:
                return
