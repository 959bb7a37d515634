"""A local batch job's input checked the way Bedrock's Validating step checks it, and its records read.

Limits and formats: docs/bedrock-facts.md (quotas, input layout). Where Bedrock's behaviour is not
documented, the engine's choices are listed in app/inference/local/engine.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO, Iterator

from app.storage.base import ObjectStore, StorageError

# Bedrock's default quotas for Nova batch jobs (docs/bedrock-facts.md §5 Quotas); the minimum is a setting.
MAX_RECORDS_PER_FILE = 50_000
MAX_RECORDS_PER_JOB = 50_000
MAX_INPUT_FILE_BYTES = 1024 ** 3


class JobFailed(Exception):
    """Validation or processing found the whole job unusable; the message goes to the job."""


@dataclass(frozen=True)
class InputFile:
    key: str
    out_name: str  # path of the .out below '<output prefix>/<job_id>/'


@dataclass
class Plan:
    """What validation found: the input files, the record count and where media may live."""

    files: list[InputFile]
    total: int
    media_folder: str | None  # key prefix media must start with; None for a single-file input
    media_folder_uri: str
    output_prefix: str  # '<output prefix>/<job_id>/' as a key prefix ('' for the bucket root)


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; the key may be empty."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def as_folder(key: str) -> str:
    """A key prefix as a folder: '' for the bucket root, else ending in '/'."""
    key = key.strip("/")
    return f"{key}/" if key else ""


def validate(store: ObjectStore, job_id: str, input_uri: str, output_uri: str, min_records: int) -> Plan:
    """The job's input files and record count; raises JobFailed as Bedrock's validation would fail it."""
    in_bucket, in_key = split_s3(input_uri)
    out_bucket, out_key = split_s3(output_uri)
    for bucket, uri in ((in_bucket, input_uri), (out_bucket, output_uri)):
        if bucket != store.bucket:
            raise JobFailed(f"Access denied to {uri}: the local engine can only reach bucket {store.bucket!r}.")
    output_prefix = f"{as_folder(out_key)}{job_id}/"
    if in_key.endswith(".jsonl"):
        if not store.exists(in_key):
            raise JobFailed(f"No .jsonl input file found at {input_uri}.")
        sizes = {in_key: store.head(in_key).size}
        files = [InputFile(in_key, PurePosixPath(in_key).name + ".out")]
        media_folder, media_folder_uri = None, input_uri
    else:
        media_folder = as_folder(in_key)
        media_folder_uri = f"s3://{in_bucket}/{media_folder}"
        sizes, files = {}, []
        for info in store.list(media_folder):
            if info.key.endswith(".jsonl") and not info.key.startswith(output_prefix):
                sizes[info.key] = info.size
                files.append(InputFile(info.key, info.key[len(media_folder):] + ".out"))
        if not files:
            raise JobFailed(f"No .jsonl input files found under {input_uri}.")
    total = 0
    for input_file in files:
        total += _count_records(store, input_file, sizes[input_file.key])
        if total > MAX_RECORDS_PER_JOB:
            raise JobFailed(f"The job has more than {MAX_RECORDS_PER_JOB} records.")
    if total < min_records:
        raise JobFailed(f"The job has {total} records, fewer than the minimum of {min_records} "
                        "records per batch inference job.")
    return Plan(files, total, media_folder, media_folder_uri, output_prefix)


def _count_records(store: ObjectStore, input_file: InputFile, size: int) -> int:
    if size > MAX_INPUT_FILE_BYTES:
        raise JobFailed(f"Input file {input_file.key} is larger than the {MAX_INPUT_FILE_BYTES} byte "
                        "limit per file.")
    count = 0
    for _ in read_records(store, input_file):
        count += 1
        if count > MAX_RECORDS_PER_FILE:
            raise JobFailed(f"Input file {input_file.key} has more than {MAX_RECORDS_PER_FILE} records.")
    return count


def read_records(store: ObjectStore, input_file: InputFile) -> Iterator[dict]:
    """Stream the records of one input file, raising JobFailed on the first malformed line."""
    name = input_file.key
    try:
        stream: BinaryIO = store.open_read(name)
    except StorageError as exc:
        raise JobFailed(f"Cannot read input file {name}: {exc}") from exc
    with stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise JobFailed(f"Input file {name} line {number} is not valid JSON.") from None
            if not isinstance(record, dict):
                raise JobFailed(f"Input file {name} line {number} is not a JSON object.")
            if not isinstance(record.get("recordId"), str) or not record["recordId"]:
                raise JobFailed(f"Input file {name} line {number} has no recordId string.")
            if not isinstance(record.get("modelInput"), dict):
                raise JobFailed(f"Input file {name} line {number} has no modelInput object.")
            yield record
