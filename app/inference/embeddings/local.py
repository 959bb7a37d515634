"""The offline stand-in for Nova Multimodal Embeddings: vectors from what the app really has.

Text is hashed word by word; images and video frames are described by their colours and layout
(_local_features.py says exactly what is measured). Videos go through the same asynchronous life as on
Bedrock: start records an InProgress invocation in the object store (its id derived from the client token, so
starting twice with one token returns the same invocation), the first look at it embeds the video in
segments of the requested length and writes the documented output files, and it is then Completed (or Failed
with a reason). Nothing is random beyond a fixed seed and nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from app.inference.base import NotFoundError, ValidationError
from app.inference.embeddings import _local_features as features
from app.inference.embeddings.base import (
    RESULT_FILE,
    AsyncInvocation,
    EmbeddingBackend,
    check_arn,
    check_dimension,
    check_image,
    check_purpose,
    check_status,
    check_text,
    check_video_start,
)
from app.inference.local._video_facts import DecodeFailed, extract_video_facts, thumb_size
from app.storage.base import ObjectNotFound, ObjectStore
from app.utils.clock import iso, parse_iso, utcnow

log = logging.getLogger(__name__)

LOCAL_MODEL_ID = "local-embeddings-v1"
RECORDS_PREFIX = "local-async-invokes/"
ARN_PREFIX = "arn:aws:bedrock:local:000000000000:async-invoke/"


class LocalEmbeddings(EmbeddingBackend):
    """EmbeddingBackend computed on this machine; async video results live in the object store."""

    name = "local"

    def __init__(self, store: ObjectStore, *, dimension: int, resolve_uri: Callable[[str], Path] | None = None) -> None:
        self.model_id = LOCAL_MODEL_ID
        self.dimension = check_dimension(dimension)
        self.store = store
        self._resolve_uri = resolve_uri or self._store_path

    def embed_text(self, text: str, *, purpose: str) -> list[float]:
        check_purpose(purpose)
        return features.text_vector(check_text(text), self.dimension).tolist()

    def embed_image(self, data: bytes, image_format: str, *, purpose: str) -> list[float]:
        check_purpose(purpose)
        check_image(data, image_format)
        try:
            with Image.open(io.BytesIO(data)) as image:
                picture = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ValidationError(f"the image cannot be decoded: {exc}", code="ValidationException") from None
        return picture_vector([picture], self.dimension).tolist()

    # ---- asynchronous video -----------------------------------------------------------------------

    def start_video(self, *, video_uri: str, video_format: str, output_uri: str, client_token: str,
                    segment_seconds: int, mode: str) -> str:
        check_video_start(video_uri=video_uri, video_format=video_format, output_uri=output_uri,
                          client_token=client_token, segment_seconds=segment_seconds, mode=mode)
        invocation_id = hashlib.sha256(client_token.encode("utf-8")).hexdigest()[:12]
        arn = ARN_PREFIX + invocation_id
        if self._record(invocation_id) is None:  # the same token is the same invocation, as on Bedrock
            self._save({"invocationArn": arn, "status": "InProgress", "clientRequestToken": client_token,
                        "submitTime": iso(utcnow()), "video_uri": video_uri, "segment_seconds": segment_seconds,
                        "mode": mode, "outputDataConfig": {"s3OutputDataConfig": {
                            "s3Uri": f"{output_uri.rstrip('/')}/{invocation_id}"}}})
        return arn

    def get_invocation(self, arn: str) -> AsyncInvocation:
        check_arn(arn)
        record = self._record(arn.rsplit("/", 1)[-1])
        if record is None:
            raise NotFoundError(f"GetAsyncInvoke failed: no invocation {arn}")
        return _invocation(self._advance(record))

    def list_invocations(self, *, submitted_after: datetime | None = None,
                         status: str | None = None) -> Iterator[AsyncInvocation]:
        if status is not None:
            check_status(status)
        records = []
        for info in self.store.list(RECORDS_PREFIX):
            record = self._advance(json.loads(self._read(info.key)))
            if submitted_after is not None and parse_iso(record["submitTime"]) <= submitted_after:
                continue
            if status is None or record["status"] == status:
                records.append(record)
        records.sort(key=lambda r: r["submitTime"], reverse=True)
        return iter([_invocation(r) for r in records])

    def _advance(self, record: dict[str, Any]) -> dict[str, Any]:
        """Run an InProgress invocation to its end (the stand-in for the service's fleet)."""
        if record["status"] != "InProgress":
            return record
        output_key = self.store.key_from_uri(record["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        try:
            lines = self._segment_lines(self._resolve_uri(record["video_uri"]), record["segment_seconds"])
        except (DecodeFailed, FileNotFoundError, ObjectNotFound, OSError) as exc:
            record.update(status="Failed", failureMessage=f"the video cannot be read: {exc}", endTime=iso(utcnow()))
        else:
            # The combined mode's file name follows AWS's samples (docs/embeddings-facts.md).
            name = "embedding-audio-video.jsonl" if record["mode"] == "AUDIO_VIDEO_COMBINED" else "embedding-video.jsonl"
            kind = "AUDIO_VIDEO_COMBINED" if record["mode"] == "AUDIO_VIDEO_COMBINED" else "VIDEO"
            self.store.put_bytes(f"{output_key}/{name}", "".join(lines).encode("utf-8"), "application/jsonl")
            result = {"sourceFileUri": record["video_uri"], "embeddingDimension": self.dimension,
                      "embeddingResults": [{"embeddingType": kind, "status": "SUCCESS",
                                            "outputFileUri": self.store.uri(f"{output_key}/{name}")}]}
            self.store.put_bytes(f"{output_key}/{RESULT_FILE}", json.dumps(result).encode("utf-8"), "application/json")
            record.update(status="Completed", endTime=iso(utcnow()))
        self._save(record)
        return record

    def _segment_lines(self, path: Path, segment_seconds: int) -> list[str]:
        facts = extract_video_facts(path)
        size = thumb_size(facts.width, facts.height)
        count = max(1, math.ceil(facts.duration / segment_seconds - 1e-6))
        lines = []
        for index in range(count):
            start, end = index * segment_seconds, min(facts.duration, (index + 1) * segment_seconds)
            frames = [_thumb(s.thumb, size) for s in facts.samples if start <= s.time < end]
            if not frames:  # a segment past the decodable part still gets the last frame seen
                frames = [_thumb(facts.samples[-1].thumb, size)]
            vector = picture_vector(frames, self.dimension)
            lines.append(json.dumps({"embedding": [round(float(v), 7) for v in vector], "status": "SUCCESS",
                                     "segmentMetadata": {"segmentIndex": index, "segmentStartSeconds": start,
                                                         "segmentEndSeconds": round(end, 3)}}) + "\n")
        return lines

    def _record(self, invocation_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._read(f"{RECORDS_PREFIX}{invocation_id}.json"))
        except ObjectNotFound:
            return None

    def _save(self, record: dict[str, Any]) -> None:
        key = f"{RECORDS_PREFIX}{record['invocationArn'].rsplit('/', 1)[-1]}.json"
        self.store.put_bytes(key, json.dumps(record).encode("utf-8"), "application/json")

    def _read(self, key: str) -> bytes:
        with self.store.open_read(key) as handle:
            return handle.read()

    def _store_path(self, uri: str) -> Path:
        path = self.store.local_path(self.store.key_from_uri(uri))
        if path is None or not path.exists():
            raise FileNotFoundError(uri)
        return path


def picture_vector(pictures: list[Image.Image], dimension: int) -> np.ndarray:
    """One vector for one picture, or for the frames of a video segment (their features averaged)."""
    pixels = np.mean([features.pixel_features(p) for p in pictures], axis=0)
    said = " ".join(features.picture_words(p) for p in pictures[:: max(1, len(pictures) // 3)])
    return features.picture_vector(pixels, said, dimension)


def _thumb(rgb: bytes, size: tuple[int, int]) -> Image.Image:
    width, height = size if size[0] * size[1] * 3 == len(rgb) else (size[1], size[0])
    return Image.frombytes("RGB", (width, height), rgb)


def _invocation(record: dict[str, Any]) -> AsyncInvocation:
    return AsyncInvocation(arn=record["invocationArn"], status=record["status"],
                           client_token=record.get("clientRequestToken"), failure_message=record.get("failureMessage"),
                           output_uri=record["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"],
                           submit_time=parse_iso(record.get("submitTime")), end_time=parse_iso(record.get("endTime")))
