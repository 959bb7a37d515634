"""An object store kept as plain files under a directory, for development and tests."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

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

log = logging.getLogger(__name__)

_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
# Temp files sit next to their target so os.replace stays on one filesystem; list() hides them.
_TEMP_NAME = re.compile(r"^\..*\.[0-9a-f]{32}\.tmp$", re.DOTALL)
_MAX_NAME_BYTES = 255  # NAME_MAX of common filesystems; S3 itself only limits the whole key
_CHUNK = 1024 * 1024
_WRITE_ATTEMPTS = 3


def _md5_file(path: Path) -> str:
    """Return the hex md5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(src: BinaryIO, dst: BinaryIO) -> str:
    """Copy src to dst and return the hex md5 of what was copied."""
    digest = hashlib.md5()
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


class LocalObjectStore(ObjectStore):
    """Objects are files under root/<bucket>/<key>; metadata lives in root/.meta/<bucket>/<key>.

    The metadata tree mirrors the data tree file for file, so the two can never
    disagree about which keys may coexist. Keys whose last segment looks like one
    of the store's temp files ('.<name>.<32 hex>.tmp') are refused.
    """

    backend = "local"

    def __init__(self, root: Path, bucket: str) -> None:
        if not _BUCKET_NAME.match(bucket):
            raise ValueError(f"invalid local bucket name {bucket!r}")
        self.bucket = bucket
        self.root = Path(root)
        data_dir = self.root / bucket
        meta_dir = self.root / ".meta" / bucket
        data_dir.mkdir(parents=True, exist_ok=True)
        meta_dir.mkdir(parents=True, exist_ok=True)
        self._data_dir = data_dir.resolve()
        self._meta_dir = meta_dir.resolve()

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r}, bucket={self.bucket!r})"

    def _inside(self, base: Path, relative: str, what: str) -> Path:
        """Join relative onto base and refuse results that resolve outside base."""
        resolved = (base / relative).resolve()
        if resolved == base or not resolved.is_relative_to(base):
            # Symlinks planted inside the store must not lead reads or writes elsewhere.
            raise InvalidKey(f"{what} {relative!r} resolves outside bucket {self.bucket!r}")
        return resolved

    def _path(self, key: str) -> Path:
        """Return the data file path of a validated key."""
        validate_key(key)
        if _TEMP_NAME.match(key.rpartition("/")[2]):
            raise InvalidKey(f"key {key!r} looks like a local-store temp file")
        if any(len(segment.encode("utf-8")) > _MAX_NAME_BYTES for segment in key.split("/")):
            raise InvalidKey(f"key {key!r} has a segment longer than {_MAX_NAME_BYTES} bytes, "
                             "which local filesystems cannot store")
        return self._inside(self._data_dir, key, "key")

    def _meta_path(self, key: str) -> Path:
        """Return the metadata file path of an already validated key."""
        return self._inside(self._meta_dir, key, "key")

    def local_path(self, key: str) -> Path:
        """Return the file that holds (or would hold) key."""
        return self._path(key)

    def _reserve_temp(self, target: Path, key: str) -> Path:
        """Create an empty, uniquely named temp file in target's directory."""
        for attempt in range(_WRITE_ATTEMPTS):
            tmp = target.parent / f".{target.name[:50]}.{uuid.uuid4().hex}.tmp"
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
                return tmp
            except FileNotFoundError:
                # A concurrent delete pruned the directory between mkdir and open; try again.
                if attempt + 1 == _WRITE_ATTEMPTS:
                    raise
            except (FileExistsError, NotADirectoryError) as exc:
                raise self._conflict(key) from exc
        raise FileNotFoundError(target.parent)

    def _replace_atomically(self, target: Path, fill: Callable[[Path], str], key: str) -> str:
        """Fill a fresh temp file next to target, then rename it over target; return fill's result."""
        tmp = self._reserve_temp(target, key)
        try:
            result = fill(tmp)
            os.replace(tmp, target)
            return result
        except IsADirectoryError as exc:
            raise self._conflict(key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _conflict(self, key: str) -> StorageError:
        """Build the error for a key that clashes with a file/directory of another key."""
        return StorageError(
            f"key {key!r} in bucket {self.bucket!r} clashes with an existing key on the local "
            "filesystem (one key is a '/'-prefix of the other)",
            code="KeyConflict",
        )

    def _write(self, key: str, fill: Callable[[Path], str], content_type: str | None,
               operation: str) -> None:
        """Write data through fill, which returns the md5 etag, and record metadata."""
        target = self._path(key)
        stamp: dict[str, object] = {}

        def fill_and_stamp(tmp: Path) -> str:
            etag = fill(tmp)
            st = tmp.stat()
            stamp.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
            return etag

        try:
            etag = self._replace_atomically(target, fill_and_stamp, key)
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(f"{operation} failed for bucket {self.bucket!r}, key {key!r}: {exc}",
                               code="IOError") from exc
        meta = {"content_type": content_type or DEFAULT_CONTENT_TYPE, "etag": etag, **stamp}
        self._write_meta(key, meta)

    def _write_meta(self, key: str, meta: dict[str, object]) -> None:
        """Store the metadata sidecar; a failure only costs a recomputed etag later."""
        payload = json.dumps(meta).encode("utf-8")

        def fill(tmp: Path) -> str:
            tmp.write_bytes(payload)
            return ""

        try:
            self._replace_atomically(self._meta_path(key), fill, key)
        except (OSError, StorageError) as exc:
            log.warning("could not write metadata for %s/%s: %s", self.bucket, key, exc)

    def _read_meta(self, key: str) -> dict[str, object]:
        """Return the sidecar metadata of key, or {} when it is missing or unreadable."""
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError, InvalidKey):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _etag(self, path: Path, st: os.stat_result, meta: dict[str, object]) -> str:
        """Return the recorded etag, recomputing it when the file changed behind the store's back."""
        etag = meta.get("etag")
        if isinstance(etag, str) and meta.get("size") == st.st_size and meta.get("mtime_ns") == st.st_mtime_ns:
            return etag
        return _md5_file(path)

    def _stat_file(self, path: Path, key: str, operation: str) -> os.stat_result:
        """Stat the regular file holding key or raise ObjectNotFound."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(self.bucket, key, operation) from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(self.bucket, key, operation)
        return st

    def put_file(self, key: str, path: Path | str, content_type: str | None = None) -> None:
        """Store a copy of the file at path under key."""
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no such file to upload: {source}")

        def fill(tmp: Path) -> str:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                return _copy_hashing(src, dst)

        self._write(key, fill, content_type, "put_file")

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store data under key."""
        data = bytes(data)

        def fill(tmp: Path) -> str:
            tmp.write_bytes(data)
            return hashlib.md5(data).hexdigest()

        self._write(key, fill, content_type, "put_bytes")

    def open_read(self, key: str) -> BinaryIO:
        """Open the file of key; the returned file is its own context manager."""
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(self.bucket, key, "open_read") from exc

    def head(self, key: str) -> ObjectInfo:
        """Return size, etag, content type and mtime of key."""
        path = self._path(key)
        st = self._stat_file(path, key, "head")
        meta = self._read_meta(key)
        content_type = meta.get("content_type")
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=self._etag(path, st, meta),
            content_type=content_type if isinstance(content_type, str) else DEFAULT_CONTENT_TYPE,
            last_modified=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield objects under prefix in key order, walking only the prefix's directory."""
        validate_prefix(prefix)
        directory, _, name_start = prefix.rpartition("/")
        start = self._inside(self._data_dir, directory, "prefix") if directory else self._data_dir
        if start.is_dir():
            yield from self._walk(start, f"{directory}/" if directory else "", name_start)

    def _walk(self, directory: Path, key_prefix: str, name_start: str) -> Iterator[ObjectInfo]:
        """Depth-first walk that yields keys in lexicographic order."""
        entries: list[tuple[str, os.DirEntry[str], bool]] = []
        try:
            with os.scandir(directory) as scan:
                for entry in scan:
                    if not entry.name.startswith(name_start) or entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        # Sorting a directory as 'name/' places its keys exactly where S3 would.
                        entries.append((entry.name + "/", entry, True))
                    elif entry.is_file(follow_symlinks=False) and not _TEMP_NAME.match(entry.name):
                        entries.append((entry.name, entry, False))
        except FileNotFoundError:
            return
        entries.sort(key=lambda item: item[0])
        for _, entry, is_dir in entries:
            key = key_prefix + entry.name
            if is_dir:
                yield from self._walk(Path(entry.path), key + "/", "")
                continue
            try:
                validate_key(key)
                st = entry.stat(follow_symlinks=False)
            except (InvalidKey, FileNotFoundError):
                continue
            yield ObjectInfo(
                key=key,
                size=st.st_size,
                etag=self._etag(Path(entry.path), st, self._read_meta(key)),
                content_type=None,
                last_modified=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc),
            )

    def copy(self, src_key: str, dst_key: str, *, content_type: str | None = None) -> None:
        """Copy src_key to dst_key, keeping its content type unless one is given."""
        src = self._path(src_key)
        st = self._stat_file(src, src_key, "copy")
        meta = self._read_meta(src_key)
        etag = self._etag(src, st, meta)
        kept_type = meta.get("content_type")

        def fill(tmp: Path) -> str:
            shutil.copyfile(src, tmp)
            return etag

        self._write(dst_key, fill, content_type or (kept_type if isinstance(kept_type, str) else None), "copy")

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete keys and prune emptied directories; missing keys count as deleted."""
        unique = list(dict.fromkeys(keys))
        paths = [(key, self._path(key)) for key in unique]
        failures: list[str] = []
        for key, path in paths:
            try:
                path.unlink(missing_ok=True)
            except IsADirectoryError:
                pass  # a directory is a prefix of other keys, so this key holds no object
            except OSError as exc:
                failures.append(f"{key!r}: {exc}")
                continue
            meta_path = self._meta_path(key)
            try:
                meta_path.unlink(missing_ok=True)
            except OSError:
                pass  # orphaned metadata is harmless: it is only trusted when size and mtime match
            self._prune(path.parent, self._data_dir)
            self._prune(meta_path.parent, self._meta_dir)
        if failures:
            raise StorageError(
                f"delete_many failed for {len(failures)} key(s) in bucket {self.bucket!r}: "
                + "; ".join(failures[:5]),
                code="DeleteFailed",
            )
        return len(unique)

    @staticmethod
    def _prune(directory: Path, stop: Path) -> None:
        """Remove empty directories from directory up to, not including, stop."""
        while directory != stop and directory.is_relative_to(stop):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass  # a concurrent delete got here first; its parent may still be empty
            except OSError:
                return  # not empty: everything above is in use too
            directory = directory.parent
