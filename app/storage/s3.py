"""The Amazon S3 object store; every boto3 call of the app's storage goes through here."""
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import botocore.config
from boto3.exceptions import Boto3Error, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .base import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    validate_key,
    validate_prefix,
)

MAX_PAGE_SIZE = 1000  # both ListObjectsV2 and DeleteObjects stop at 1000 keys per request
_READ_BUFFER = 256 * 1024
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "TooManyRequestsException", "BandwidthLimitExceeded",
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
    "500", "502", "503", "504",
})
_TRANSIENT_EXCEPTIONS = (HTTPClientError, BotoConnectionError, IncompleteReadError)


def _unquote(etag: str | None) -> str | None:
    """Return an S3 ETag without its surrounding quotes."""
    return etag.strip('"') if etag else None


def build_s3_client(region: str | None = None, endpoint_url: str | None = None,
                    profile: str | None = None) -> Any:
    """Build the S3 client with adaptive retries and bounded timeouts."""
    config = botocore.config.Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
    )
    session = boto3.session.Session(profile_name=profile)
    return session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


class _BodyReader(io.RawIOBase):
    """Raw adapter so io.BufferedReader can stream a botocore StreamingBody line by line."""

    def __init__(self, body: Any, describe: str) -> None:
        super().__init__()
        self._body = body
        self._describe = describe

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except _TRANSIENT_EXCEPTIONS as exc:
            raise StorageError(f"S3 read of {self._describe} broke off: {exc}", code=type(exc).__name__,
                               transient=True) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ObjectStore(ObjectStore):
    """Objects in one S3 bucket, using managed (multipart) transfers for large files."""

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        client: Any = None,
        multipart_threshold: int = 64 * 1024 * 1024,
        multipart_chunksize: int = 16 * 1024 * 1024,
        max_concurrency: int = 8,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        self.bucket = bucket
        self._client = client if client is not None else build_s3_client(region, endpoint_url, profile)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client, exposed for tests (botocore Stubber) and diagnostics only."""
        return self._client

    def _describe(self, key: str, what: str = "key") -> str:
        """Name the bucket and key (or prefix) in messages."""
        return f"bucket {self.bucket!r}, {what} {key!r}"

    def _translate(self, exc: Exception, operation: str, key: str, what: str) -> StorageError:
        """Turn a boto3/botocore exception into the store's typed errors."""
        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
            # upload_file hides the ClientError behind a string-only error; its context keeps it.
            exc = exc.__context__
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "Unknown")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _NOT_FOUND_CODES and what == "key":
                return ObjectNotFound(self.bucket, key, operation)
            transient = code in _TRANSIENT_CODES or status >= 500 or status == 429
            message = error.get("Message") or ""
            text = f"S3 {operation} failed for {self._describe(key, what)}: {code} {message}"
            return StorageError(text.rstrip(), code=code, transient=transient)
        transient = isinstance(exc, _TRANSIENT_EXCEPTIONS)
        return StorageError(f"S3 {operation} failed for {self._describe(key, what)}: {exc}",
                            code=type(exc).__name__, transient=transient)

    @contextmanager
    def _errors(self, operation: str, key: str, what: str = "key") -> Iterator[None]:
        """Translate boto errors raised inside the block."""
        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._translate(exc, operation, key, what) from exc

    def put_file(self, key: str, path: Path | str, content_type: str | None = None) -> None:
        """Upload a file, in parallel parts once it reaches the multipart threshold."""
        validate_key(key)
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no such file to upload: {source}")
        with self._errors("put_file", key):
            self._client.upload_file(
                str(source), self.bucket, key,
                ExtraArgs={"ContentType": content_type or DEFAULT_CONTENT_TYPE},
                Config=self._transfer,
            )

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Upload data in a single PutObject."""
        validate_key(key)
        with self._errors("put_bytes", key):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data),
                                    ContentType=content_type or DEFAULT_CONTENT_TYPE)

    def open_read(self, key: str) -> BinaryIO:
        """Return a buffered stream over the object body; close it (or use `with`) when done."""
        validate_key(key)
        with self._errors("open_read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        raw = _BodyReader(response["Body"], self._describe(key))
        return io.BufferedReader(raw, buffer_size=_READ_BUFFER)  # type: ignore[return-value]

    def head(self, key: str) -> ObjectInfo:
        """Return the object's metadata from HeadObject."""
        validate_key(key)
        with self._errors("head", key):
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=_unquote(response.get("ETag")),
            content_type=response.get("ContentType"),
            last_modified=response.get("LastModified"),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield objects under prefix page by page; S3 already returns them in key order."""
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                   PaginationConfig={"PageSize": self._page_size})
        with self._errors("list", prefix, what="prefix"):
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item["Size"]),
                        etag=_unquote(item.get("ETag")),
                        content_type=None,
                        last_modified=item.get("LastModified"),
                    )

    def copy(self, src_key: str, dst_key: str, *, content_type: str | None = None) -> None:
        """Copy server-side with the managed copy, which switches to multipart for big objects."""
        validate_key(src_key)
        validate_key(dst_key)
        if src_key == dst_key and content_type is None:
            # S3 rejects a self-copy that changes nothing; the result would equal the source anyway.
            self.head(src_key)
            return
        extra_args = {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else None
        with self._errors("copy", src_key):
            self._client.copy(
                CopySource={"Bucket": self.bucket, "Key": src_key},
                Bucket=self.bucket, Key=dst_key,
                ExtraArgs=extra_args, Config=self._transfer,
            )

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete keys with batched DeleteObjects; raise after all batches if any key failed."""
        unique = [validate_key(key) for key in dict.fromkeys(keys)]
        failures: list[dict[str, str]] = []
        for start in range(0, len(unique), self._page_size):
            batch = unique[start:start + self._page_size]
            # A failure of the whole request (denied, throttled past retries) stops here, as
            # it would fail every remaining batch the same way.
            with self._errors("delete_many", batch[0]):
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            failures.extend(response.get("Errors", []))
        if failures:
            codes = [str(failure.get("Code") or "Unknown") for failure in failures]
            details = "; ".join(f"{failure.get('Key')!r}: {code}" for failure, code in zip(failures[:5], codes))
            raise StorageError(
                f"S3 delete_many could not delete {len(failures)} of {len(unique)} key(s) "
                f"in bucket {self.bucket!r}: {details}",
                code=codes[0],
                transient=all(code in _TRANSIENT_CODES for code in codes),
            )
        return len(unique)
