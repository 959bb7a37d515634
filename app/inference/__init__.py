"""Inference backends: the interface, its errors and validators, and the Bedrock implementation."""
from .base import (
    BATCH_S3_URI_RE,
    BATCH_STATUSES,
    CLIENT_TOKEN_RE,
    JOB_NAME_RE,
    TERMINAL_STATUSES,
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
    job_id_from_arn,
    validate_batch_s3_uri,
    validate_batch_status,
    validate_client_token,
    validate_create_job,
    validate_job_identifier,
    validate_job_name,
    validate_role_arn,
    validate_timeout_hours,
)
from .bedrock import BedrockBackend

__all__ = [
    "BATCH_S3_URI_RE", "BATCH_STATUSES", "CLIENT_TOKEN_RE", "JOB_NAME_RE", "TERMINAL_STATUSES",
    "AccessDeniedError", "BatchJobInfo", "BedrockBackend", "ConflictError", "InferenceBackend",
    "InferenceError", "NotFoundError", "QuotaExceededError", "ThrottlingError", "TransientServiceError",
    "ValidationError", "job_id_from_arn", "validate_batch_s3_uri", "validate_batch_status",
    "validate_client_token", "validate_create_job", "validate_job_identifier", "validate_job_name", "validate_role_arn",
    "validate_timeout_hours",
]
