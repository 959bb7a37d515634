"""Embedding backends: one interface for Nova Multimodal Embeddings and its offline stand-in.

Request shapes, limits, statuses and the async output layout follow the model's schema page
(https://docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html) and botocore's bedrock-runtime
model; docs/embeddings-facts.md lists the facts with their sources and what is still uncertain.
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from app.inference.base import ValidationError

NOVA_EMBEDDINGS_MODEL_ID = "amazon.nova-2-multimodal-embeddings-v1:0"
DIMENSIONS = (256, 384, 1024, 3072)
# Index everything with GENERIC_INDEX; a query of a mixed photo and video library uses GENERIC_RETRIEVAL.
INDEX_PURPOSE = "GENERIC_INDEX"
QUERY_PURPOSE = "GENERIC_RETRIEVAL"
PURPOSES = ("GENERIC_INDEX", "GENERIC_RETRIEVAL", "TEXT_RETRIEVAL", "IMAGE_RETRIEVAL", "VIDEO_RETRIEVAL",
            "DOCUMENT_RETRIEVAL", "AUDIO_RETRIEVAL", "CLASSIFICATION", "CLUSTERING")
VIDEO_MODES = ("AUDIO_VIDEO_COMBINED", "AUDIO_VIDEO_SEPARATE")
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm", "flv", "mpeg", "mpg", "wmv", "3gp")
ASYNC_STATUSES = ("InProgress", "Completed", "Failed")
MAX_SYNC_TEXT_CHARS = 8192
MAX_SYNC_BODY_BYTES = 25_000_000  # InvokeModel's body limit; inline media is base64 (4/3 of its bytes)
MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS = 1, 30
RESULT_FILE = "segmented-embedding-result.json"

# botocore's own patterns for these parameters (bedrock-runtime 2023-09-30 service model).
S3_URI_RE = re.compile(r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?")
CLIENT_TOKEN_RE = re.compile(r"[!-~]{1,256}")
ASYNC_ARN_RE = re.compile(r"arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:async-invoke/(?P<id>[a-z0-9]{12})")
MODEL_ID_RE = re.compile(r"[a-zA-Z_\.\-/0-9:]{1,256}")


@dataclass(frozen=True)
class AsyncInvocation:
    """One asynchronous invocation as the service reports it (GetAsyncInvoke or a list summary)."""

    arn: str
    status: str
    client_token: str | None = None
    failure_message: str | None = None
    output_uri: str | None = None
    submit_time: datetime | None = None
    end_time: datetime | None = None

    @property
    def invocation_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def terminal(self) -> bool:
        return self.status in ("Completed", "Failed")


@dataclass(frozen=True)
class Segment:
    """One vector of an async result: its type (VIDEO, AUDIO, AUDIO_VIDEO_COMBINED...) and time range."""

    embedding_type: str
    vector: list[float]
    start_seconds: float | None
    end_seconds: float | None


class EmbeddingBackend(ABC):
    """Vectors for text, images (synchronous) and videos (asynchronous, segmented by the model)."""

    name: str  # "bedrock" or "local"
    model_id: str
    dimension: int

    @abstractmethod
    def embed_text(self, text: str, *, purpose: str) -> list[float]:
        """One vector for `text` (at most MAX_SYNC_TEXT_CHARS)."""

    @abstractmethod
    def embed_image(self, data: bytes, image_format: str, *, purpose: str) -> list[float]:
        """One vector for an image's bytes."""

    @abstractmethod
    def start_video(self, *, video_uri: str, video_format: str, output_uri: str, client_token: str,
                    segment_seconds: int, mode: str) -> str:
        """Start a segmented embedding of the video at `video_uri`; the invocation ARN."""

    @abstractmethod
    def get_invocation(self, arn: str) -> AsyncInvocation:
        """The current state of one invocation."""

    @abstractmethod
    def list_invocations(self, *, submitted_after: datetime | None = None,
                         status: str | None = None) -> Iterator[AsyncInvocation]:
        """Invocations newest first, across every page."""

    def find_invocation(self, client_token: str, submitted_after: datetime | None = None) -> AsyncInvocation | None:
        """The invocation started with this client token, or None: heals a crash between start and record."""
        for info in self.list_invocations(submitted_after=submitted_after):
            if info.client_token == client_token:
                return info
        return None


# ---- validation: every parameter checked as the service would, before any call -----------------------

def _check(ok: bool, what: str, value: object, rule: str) -> None:
    if not ok:
        raise ValidationError(f"invalid {what} {str(value)[:200]!r}: {rule}")


def check_dimension(dimension: int) -> int:
    _check(dimension in DIMENSIONS, "embedding dimension", dimension, f"one of {DIMENSIONS}")
    return dimension


def check_purpose(purpose: str) -> str:
    _check(purpose in PURPOSES, "embedding purpose", purpose, f"one of {', '.join(PURPOSES)}")
    return purpose


def check_text(text: str) -> str:
    _check(isinstance(text, str) and 0 < len(text) <= MAX_SYNC_TEXT_CHARS and bool(text.strip()), "text",
           text, f"1-{MAX_SYNC_TEXT_CHARS} characters, not blank")
    return text


def check_image(data: bytes, image_format: str) -> None:
    _check(image_format in IMAGE_FORMATS, "image format", image_format, f"one of {', '.join(IMAGE_FORMATS)}")
    _check(isinstance(data, bytes) and 0 < len(data) and (len(data) + 2) // 3 * 4 < MAX_SYNC_BODY_BYTES - 4096,
           "image", f"{len(data)} bytes", "non-empty, and under 25 MB once base64-encoded")


def check_video_start(*, video_uri: str, video_format: str, output_uri: str, client_token: str,
                      segment_seconds: int, mode: str) -> None:
    for what, uri in (("video S3 URI", video_uri), ("output S3 URI", output_uri)):
        _check(isinstance(uri, str) and len(uri) <= 1024 and S3_URI_RE.fullmatch(uri) is not None, what, uri,
               "s3://bucket/key, at most 1024 characters")
    _check(video_format in VIDEO_FORMATS, "video format", video_format, f"one of {', '.join(VIDEO_FORMATS)}")
    _check(isinstance(client_token, str) and CLIENT_TOKEN_RE.fullmatch(client_token) is not None, "client token",
           client_token, "1-256 printable ASCII characters")
    _check(isinstance(segment_seconds, int) and MIN_SEGMENT_SECONDS <= segment_seconds <= MAX_SEGMENT_SECONDS,
           "segment length", segment_seconds, f"whole seconds from {MIN_SEGMENT_SECONDS} to {MAX_SEGMENT_SECONDS}")
    _check(mode in VIDEO_MODES, "video embedding mode", mode, f"one of {', '.join(VIDEO_MODES)}")


def check_arn(arn: str) -> str:
    _check(isinstance(arn, str) and ASYNC_ARN_RE.fullmatch(arn) is not None, "async invocation ARN", arn,
           "arn:aws:bedrock:<region>:<account>:async-invoke/<12 characters>")
    return arn


def check_status(status: str) -> str:
    _check(status in ASYNC_STATUSES, "async status", status, f"one of {', '.join(ASYNC_STATUSES)}")
    return status


# ---- request bodies and the async output ------------------------------------------------------------

def single_request(purpose: str, dimension: int, **modality: dict[str, Any]) -> dict[str, Any]:
    """A SINGLE_EMBEDDING body for InvokeModel with exactly one modality (text= or image=)."""
    return {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING",
            "singleEmbeddingParams": {"embeddingPurpose": check_purpose(purpose),
                                      "embeddingDimension": check_dimension(dimension), **modality}}


def segmented_video_request(*, dimension: int, video_uri: str, video_format: str, segment_seconds: int,
                            mode: str) -> dict[str, Any]:
    """The modelInput of StartAsyncInvoke: the video from S3, cut by the model every `segment_seconds`."""
    return {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SEGMENTED_EMBEDDING",
            "segmentedEmbeddingParams": {
                "embeddingPurpose": INDEX_PURPOSE, "embeddingDimension": check_dimension(dimension),
                "video": {"format": video_format, "embeddingMode": mode,
                          "source": {"s3Location": {"uri": video_uri}},
                          "segmentationConfig": {"durationSeconds": segment_seconds}}}}


def vector_of(response: dict[str, Any], dimension: int) -> list[float]:
    """The one vector of a SINGLE_EMBEDDING response, checked for length."""
    try:
        vector = response["embeddings"][0]["embedding"]
    except (KeyError, IndexError, TypeError):
        raise ValidationError("the embedding response has no embeddings[0].embedding",
                              code="InvalidResponseBody") from None
    _check_vector(vector, dimension)
    return [float(v) for v in vector]


def _check_vector(vector: Any, dimension: int) -> None:
    if not isinstance(vector, list) or len(vector) != dimension \
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector):
        raise ValidationError(f"an embedding is not a list of {dimension} numbers", code="InvalidResponseBody")


def parse_result_file(text: str | bytes) -> list[dict[str, Any]]:
    """The embeddingResults of segmented-embedding-result.json: [{embeddingType, status, outputFileUri, ...}]."""
    try:
        data = json.loads(text)
        results = data["embeddingResults"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError(f"{RESULT_FILE} is not the documented shape", code="InvalidOutput") from None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ValidationError(f"{RESULT_FILE} has no list of results", code="InvalidOutput")
    return results


def parse_segment_lines(text: str | bytes, embedding_type: str, dimension: int) -> tuple[list[Segment], list[str]]:
    """Segments of one JSONL output file and the failure reasons of its failed lines.

    Times are read from segmentMetadata.segmentStartSeconds/segmentEndSeconds, falling back to startTime/endTime,
    which one AWS sample shows (docs/embeddings-facts.md, "Async output").
    """
    raw = text.decode("utf-8") if isinstance(text, bytes) else text
    segments: list[Segment] = []
    failures: list[str] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            failures.append(f"line {number}: not JSON")
            continue
        if not isinstance(item, dict) or item.get("status", "SUCCESS") not in ("SUCCESS", None):
            reason = item.get("failureReason") if isinstance(item, dict) else None
            failures.append(f"line {number}: {reason or 'failed'}")
            continue
        meta = item.get("segmentMetadata") if isinstance(item.get("segmentMetadata"), dict) else {}
        start = _seconds(meta.get("segmentStartSeconds", item.get("startTime")))
        end = _seconds(meta.get("segmentEndSeconds", item.get("endTime")))
        _check_vector(item.get("embedding"), dimension)
        segments.append(Segment(embedding_type, [float(v) for v in item["embedding"]], start, end))
    return segments, failures


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
