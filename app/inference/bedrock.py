"""Amazon Bedrock implementation of InferenceBackend: the only place the app calls Bedrock through boto3."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from .base import (
    BATCH_STATUSES,
    AccessDeniedError,
    BatchJobInfo,
    ConflictError,
    InferenceBackend,
    InferenceError,
    NotFoundError,
    QuotaExceededError,
    ThrottlingError,
    TransientServiceError,
    ValidationError,
    validate_batch_status,
    validate_create_job,
    validate_job_identifier,
    validate_job_name,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10
CONTROL_READ_TIMEOUT = 60
MAX_ATTEMPTS = 8
LIST_PAGE_SIZE = 1000

# How each Bedrock error code is classified. Judgement calls:
# - ModelNotReadyException: the model is still being loaded; AWS tells callers to retry -> transient.
# - ModelErrorException (424): the model failed on this particular input (e.g. an unreadable video);
#   the same request usually fails again, so it is a permanent InferenceError with the code kept.
# - Expired or unrecognised credentials look like access problems the user must fix -> AccessDenied.
ERROR_CLASSES: dict[str, type[InferenceError]] = {
    "ThrottlingException": ThrottlingError,
    "TooManyRequestsException": ThrottlingError,
    "ServiceQuotaExceededException": QuotaExceededError,
    "ValidationException": ValidationError,
    "ResourceNotFoundException": NotFoundError,
    "AccessDeniedException": AccessDeniedError,
    "UnrecognizedClientException": AccessDeniedError,
    "InvalidSignatureException": AccessDeniedError,
    "ExpiredTokenException": AccessDeniedError,
    "ConflictException": ConflictError,
    "InternalServerException": TransientServiceError,
    "ServiceUnavailableException": TransientServiceError,
    "ModelTimeoutException": TransientServiceError,
    "ModelNotReadyException": TransientServiceError,
    "ModelErrorException": InferenceError,
}


def client_config(read_timeout: int) -> Config:
    """Botocore settings shared by both clients; only the read timeout differs."""
    # Adaptive mode adds client-side rate limiting on throttles, which matters when the poller
    # and on-demand analyses share one account's Bedrock quota. Keep-alive stops NAT boxes from
    # dropping a socket that waits minutes for a video answer.
    return Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        tcp_keepalive=True,
    )


def translate_client_error(exc: ClientError, operation: str) -> InferenceError:
    """Turn a botocore ClientError into the matching InferenceError subclass."""
    error = exc.response.get("Error", {})
    code = error.get("Code") or "Unknown"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = f"{operation} failed: {error.get('Message') or code}"
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        if status == 429:
            cls = ThrottlingError
        elif status is not None and status >= 500:
            cls = TransientServiceError
        else:
            cls = InferenceError
    return cls(message, code=code, http_status=status)


TRANSIENT_BOTOCORE_ERRORS = (HTTPClientError, BotoConnectionError, IncompleteReadError)
CREDENTIAL_BOTOCORE_ERRORS = (NoCredentialsError, PartialCredentialsError)
MAPPED_BOTOCORE_ERRORS = TRANSIENT_BOTOCORE_ERRORS + CREDENTIAL_BOTOCORE_ERRORS + (ParamValidationError,)


def translate_botocore_error(exc: Exception, operation: str) -> InferenceError:
    """Classify a client-side botocore failure (timeouts, resets, missing credentials, bad params)."""
    name = type(exc).__name__
    if isinstance(exc, TRANSIENT_BOTOCORE_ERRORS):
        return TransientServiceError(f"{operation} failed: {exc}", code=name)
    if isinstance(exc, CREDENTIAL_BOTOCORE_ERRORS):
        # botocore's text names missing variables, never their values.
        return AccessDeniedError(f"{operation} failed: {exc}", code=name)
    if isinstance(exc, ParamValidationError):
        return ValidationError(f"{operation} failed: {exc}", code=name)
    return InferenceError(f"{operation} failed: {exc}", code=name)


@contextmanager
def mapped_errors(operation: str, translate: Callable[[ClientError, str], InferenceError] | None = None
                  ) -> Iterator[None]:
    """Re-raise boto3 failures inside the block as InferenceError subclasses; `translate` classifies the
    service's own error codes (Bedrock's by default), client-side botocore failures are classified alike."""
    try:
        yield
    except ClientError as exc:
        raise (translate or translate_client_error)(exc, operation) from exc
    except MAPPED_BOTOCORE_ERRORS as exc:
        raise translate_botocore_error(exc, operation) from exc


def invoke_json(client: Any, model_id: str, body: str) -> dict[str, Any]:
    """InvokeModel with a JSON body on a 'bedrock-runtime' client; the response body as a JSON object."""
    with mapped_errors("InvokeModel"):
        response = client.invoke_model(modelId=model_id, body=body, contentType="application/json",
                                       accept="application/json")
        stream = response["body"]
        try:
            raw = stream.read()
        finally:
            stream.close()
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InferenceError("InvokeModel returned a body that is not JSON", code="InvalidResponseBody") from exc
    if not isinstance(parsed, dict):
        raise InferenceError("InvokeModel returned JSON that is not an object", code="InvalidResponseBody")
    return parsed


def _job_info(data: dict[str, Any]) -> BatchJobInfo:
    """Build a BatchJobInfo from a GetModelInvocationJob response or a list summary."""
    arn = data["jobArn"]
    status = data.get("status") or ""
    if status not in BATCH_STATUSES:
        # Kept verbatim so a status AWS adds later is shown, not hidden; it is never terminal.
        log.warning("batch job %s has undocumented status %r", arn, status)
    input_cfg = data.get("inputDataConfig", {}).get("s3InputDataConfig", {})
    output_cfg = data.get("outputDataConfig", {}).get("s3OutputDataConfig", {})
    return BatchJobInfo(
        job_id=arn.rsplit("/", 1)[-1],
        job_arn=arn,
        name=data.get("jobName") or "",
        status=status,
        message=data.get("message"),
        model_id=data.get("modelId"),
        client_token=data.get("clientRequestToken"),
        submit_time=data.get("submitTime"),
        last_modified_time=data.get("lastModifiedTime"),
        end_time=data.get("endTime"),
        expiration_time=data.get("jobExpirationTime"),
        input_uri=input_cfg.get("s3Uri"),
        output_uri=output_cfg.get("s3Uri"),
        total_records=data.get("totalRecordCount"),
        processed_records=data.get("processedRecordCount"),
        success_records=data.get("successRecordCount"),
        error_records=data.get("errorRecordCount"),
    )


class BedrockBackend(InferenceBackend):
    """InferenceBackend backed by the bedrock and bedrock-runtime APIs."""

    name = "bedrock"

    def __init__(self, *, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 runtime_endpoint_url: str | None = None, control_client: Any = None,
                 runtime_client: Any = None, read_timeout: int = 900) -> None:
        self.region = region
        if control_client is None or runtime_client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            if control_client is None:
                control_client = session.client(
                    "bedrock", endpoint_url=endpoint_url, config=client_config(CONTROL_READ_TIMEOUT))
            if runtime_client is None:
                # Video answers can take minutes; the runtime read timeout must outlast them.
                runtime_client = session.client(
                    "bedrock-runtime", endpoint_url=runtime_endpoint_url, config=client_config(read_timeout))
        self._control = control_client
        self._runtime = runtime_client

    @property
    def control_client(self) -> Any:
        """The boto3 'bedrock' client (batch job control)."""
        return self._control

    @property
    def runtime_client(self) -> Any:
        """The boto3 'bedrock-runtime' client (InvokeModel)."""
        return self._runtime

    def invoke(self, model_id: str, request: dict) -> dict:
        """Call InvokeModel with a Nova messages-v1 body and return the parsed JSON response."""
        if not model_id:
            raise ValidationError("invoke needs a model id")
        return invoke_json(self._runtime, model_id, json.dumps(request))

    def create_batch_job(self, *, name: str, model_id: str, input_uri: str, output_uri: str, role_arn: str,
                         client_token: str, timeout_hours: int) -> str:
        """Validate everything locally, then call CreateModelInvocationJob and return the job ARN."""
        validate_create_job(name=name, input_uri=input_uri, output_uri=output_uri, role_arn=role_arn,
                            client_token=client_token, timeout_hours=timeout_hours)
        if not model_id:
            raise ValidationError("create_batch_job needs a model id")
        with mapped_errors("CreateModelInvocationJob"):
            response = self._control.create_model_invocation_job(
                jobName=name,
                roleArn=role_arn,
                modelId=model_id,
                inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
                # The app's own stable token, so a retry after a lost response cannot create a twin job.
                clientRequestToken=client_token,
                timeoutDurationInHours=timeout_hours,
            )
        arn = response["jobArn"]
        log.info("submitted batch job %s (%s)", name, arn)
        return arn

    def get_batch_job(self, job_id_or_arn: str) -> BatchJobInfo:
        """Call GetModelInvocationJob for an ARN or bare job ID."""
        validate_job_identifier(job_id_or_arn)
        with mapped_errors("GetModelInvocationJob"):
            response = self._control.get_model_invocation_job(jobIdentifier=job_id_or_arn)
        return _job_info(response)

    def list_batch_jobs(self, *, name_contains: str | None = None, status: str | None = None,
                        submitted_after: datetime | None = None) -> Iterator[BatchJobInfo]:
        """Yield jobs newest first through the ListModelInvocationJobs paginator."""
        params: dict[str, Any] = {"sortBy": "CreationTime", "sortOrder": "Descending"}
        if name_contains is not None:
            params["nameContains"] = validate_job_name(name_contains)
        if status is not None:
            params["statusEquals"] = validate_batch_status(status)
        if submitted_after is not None:
            params["submitTimeAfter"] = submitted_after
        # Validation above runs at call time; only the paging itself is deferred.
        return self._iter_jobs(params)

    def _iter_jobs(self, params: dict[str, Any]) -> Iterator[BatchJobInfo]:
        """Walk every page of ListModelInvocationJobs."""
        paginator = self._control.get_paginator("list_model_invocation_jobs")
        pages = paginator.paginate(**params, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        with mapped_errors("ListModelInvocationJobs"):
            for page in pages:
                for summary in page.get("invocationJobSummaries", []):
                    yield _job_info(summary)

    def stop_batch_job(self, job_id_or_arn: str) -> None:
        """Call StopModelInvocationJob; a job that already finished raises ConflictError."""
        validate_job_identifier(job_id_or_arn)
        with mapped_errors("StopModelInvocationJob"):
            self._control.stop_model_invocation_job(jobIdentifier=job_id_or_arn)
        log.info("requested stop of batch job %s", job_id_or_arn)
