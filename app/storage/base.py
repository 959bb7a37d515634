"""The object-store interface shared by the local and S3 backends."""
from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of one stored object; etag is unquoted, content_type is None from list()."""

    key: str
    size: int
    etag: str | None
    content_type: str | None
    last_modified: datetime | None


class StorageError(Exception):
    """Base error of every object-store operation."""

    def __init__(self, message: str, *, code: str = "StorageError", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # Callers retry transient errors (throttling, 5xx, timeouts) and surface the others.
        self.transient = transient


class ObjectNotFound(StorageError):
    """The object (or its bucket) does not exist."""

    def __init__(self, bucket: str, key: str, operation: str | None = None) -> None:
        where = f" during {operation}" if operation else ""
        super().__init__(f"object not found{where}: bucket {bucket!r}, key {key!r}", code="NotFound")
        self.bucket = bucket
        self.key = key


class InvalidKey(StorageError, ValueError):
    """A key, prefix or URI that the store refuses to use."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InvalidKey")


def _check_characters(text: str, what: str) -> None:
    """Reject backslashes and control characters anywhere in a key or prefix."""
    if "\\" in text:
        raise InvalidKey(f"{what} {text!r} contains a backslash")
    for char in text:
        if unicodedata.category(char) == "Cc":
            raise InvalidKey(f"{what} {text!r} contains control character U+{ord(char):04X}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKey(f"{what} {text!r} is not valid UTF-8 text") from exc
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"{what} is {size} UTF-8 bytes; the limit is {MAX_KEY_BYTES}")


def validate_key(key: str) -> str:
    """Return key unchanged if it is a safe object key, else raise InvalidKey."""
    if not isinstance(key, str):
        raise InvalidKey(f"key must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidKey("key is empty")
    _check_characters(key, "key")
    if key.startswith("/"):
        raise InvalidKey(f"key {key!r} starts with '/'")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey(f"key {key!r} has an empty path segment")
        if segment in (".", ".."):
            raise InvalidKey(f"key {key!r} has a {segment!r} path segment")
    return key


def validate_prefix(prefix: str) -> str:
    """Return prefix unchanged if list() may use it: '' or a key directory plus any name start."""
    if not isinstance(prefix, str):
        raise InvalidKey(f"prefix must be a str, not {type(prefix).__name__}")
    if not prefix:
        return prefix
    _check_characters(prefix, "prefix")
    if prefix.startswith("/"):
        raise InvalidKey(f"prefix {prefix!r} starts with '/'")
    directory, _, _ = prefix.rpartition("/")
    if directory:
        # The part after the last '/' only filters names, so only the directory must be a key.
        try:
            validate_key(directory)
        except InvalidKey as exc:
            raise InvalidKey(f"prefix {prefix!r} has an invalid directory part: {exc}") from exc
    return prefix


def split_uri(uri: str, bucket: str) -> str:
    """Return the key of an 's3://bucket/key' URI, which must name this bucket."""
    scheme = "s3://"
    if not isinstance(uri, str) or not uri.startswith(scheme):
        raise InvalidKey(f"URI {uri!r} is not an s3:// URI")
    uri_bucket, sep, key = uri[len(scheme):].partition("/")
    if uri_bucket != bucket:
        raise InvalidKey(f"URI {uri!r} names bucket {uri_bucket!r}, not {bucket!r}")
    if not sep:
        raise InvalidKey(f"URI {uri!r} has no key")
    return validate_key(key)


class ObjectStore(ABC):
    """A flat bucket of objects addressed by '/'-separated keys."""

    bucket: str
    backend: str

    @abstractmethod
    def put_file(self, key: str, path: Path | str, content_type: str | None = None) -> None:
        """Store the contents of a local file under key."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store data under key."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open key as a streaming binary file (use it in `with`); lines keep their b'\\n'."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Return the metadata of key or raise ObjectNotFound."""

    def exists(self, key: str) -> bool:
        """Return whether key exists."""
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with prefix, in lexicographic key order."""

    @abstractmethod
    def copy(self, src_key: str, dst_key: str, *, content_type: str | None = None) -> None:
        """Copy src_key to dst_key inside the bucket, optionally replacing the content type."""

    @abstractmethod
    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete keys (missing ones are fine) and return how many distinct keys are now gone."""

    def uri(self, key: str) -> str:
        """Return the 's3://bucket/key' address of key."""
        return f"s3://{self.bucket}/{validate_key(key)}"

    def key_from_uri(self, uri: str) -> str:
        """Return the key addressed by uri; raise InvalidKey for another scheme or bucket."""
        return split_uri(uri, self.bucket)

    def local_path(self, key: str) -> Path | None:
        """Return the file holding key when the store is on local disk, else None."""
        validate_key(key)
        return None
