"""Object storage: one interface with a local-disk and an S3 implementation (s3.py, the only module here
that imports boto3, is loaded only when the S3 store is built)."""
from __future__ import annotations

from pathlib import Path

from .base import (
    DEFAULT_CONTENT_TYPE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    validate_key,
    validate_prefix,
)
from .faults import FaultyObjectStore
from .local import LocalObjectStore

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "FaultyObjectStore",
    "InvalidKey",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "create_object_store",
    "validate_key",
    "validate_prefix",
]


def create_object_store(
    backend: str,
    *,
    data_dir: Path,
    bucket: str,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> ObjectStore:
    """Build the configured store: 'local' keeps objects under data_dir/objects, 's3' uses AWS."""
    if backend == "local":
        return LocalObjectStore(Path(data_dir) / "objects", bucket)
    if backend == "s3":
        from .s3 import S3ObjectStore

        return S3ObjectStore(bucket, region=region, endpoint_url=endpoint_url, profile=profile)
    raise ValueError(f"unknown storage backend {backend!r}; expected 'local' or 's3'")
