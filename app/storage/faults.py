"""An ObjectStore wrapper that injects faults on demand, for tests and chaos runs.

Faults queue up per method and are used first in, first out; a call with no
queued fault simply delegates to the wrapped store::

    store = FaultyObjectStore(LocalObjectStore(root, "media"))
    store.inject("head", "throttle", times=2)     # next two head() calls raise SlowDown
    store.inject("list", "partial", after=2)      # next list() stops after 2 objects
    store.inject("open_read", "truncate", at=100) # next open_read() stream ends after 100 bytes
    store.inject("put_file", "error", code="AccessDenied")  # a permanent error

Raising kinds: 'throttle' (SlowDown), 'server_error' (InternalError), 'timeout'
(RequestTimeout), all transient, and 'error' with a chosen code and transient flag
(default not transient). Every raising kind accepts times=N. `calls` counts every
call per method, so tests can check how often a caller retried.
"""
from __future__ import annotations

import io
import itertools
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .base import ObjectInfo, ObjectStore, StorageError

_RAISING = {
    "throttle": ("SlowDown", True),
    "server_error": ("InternalError", True),
    "timeout": ("RequestTimeout", True),
}
_FAULTABLE = frozenset({"put_file", "put_bytes", "open_read", "head", "exists", "list", "copy", "delete_many"})
_METHOD_ONLY = {"partial": "list", "truncate": "open_read"}


@dataclass
class _Fault:
    """One queued fault and how many more calls it affects."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int = 1

    def error(self, method: str) -> StorageError:
        """Build the exception a raising fault throws."""
        if self.kind == "error":
            code = str(self.params.get("code", "AccessDenied"))
            transient = bool(self.params.get("transient", False))
        else:
            code, transient = _RAISING[self.kind]
        return StorageError(f"injected {self.kind} fault in {method}: {code}", code=code, transient=transient)


class _TruncatedRaw(io.RawIOBase):
    """Raw stream that ends after `limit` bytes of the wrapped stream."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        super().__init__()
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._inner.read(min(len(buffer), self._left))
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class FaultyObjectStore(ObjectStore):
    """Delegates to `inner`, raising or cutting short the calls that have queued faults."""

    def __init__(self, inner: ObjectStore, faults: dict[str, Iterable[dict[str, Any]]] | None = None) -> None:
        self.inner = inner
        self.bucket = inner.bucket
        self.backend = inner.backend
        self.calls: Counter[str] = Counter()
        self._queues: dict[str, deque[_Fault]] = {}
        self._lock = threading.Lock()
        for method, specs in (faults or {}).items():
            for spec in specs:
                options = dict(spec)
                self.inject(method, options.pop("kind"), **options)

    def __repr__(self) -> str:
        return f"FaultyObjectStore({self.inner!r})"

    def inject(self, method: str, kind: str, *, times: int = 1, **params: Any) -> None:
        """Queue a fault for the next `times` calls of method (partial/truncate act once)."""
        if method not in _FAULTABLE:
            raise ValueError(f"cannot inject faults into {method!r}")
        if kind in _METHOD_ONLY:
            if _METHOD_ONLY[kind] != method:
                raise ValueError(f"fault {kind!r} only applies to {_METHOD_ONLY[kind]}()")
            required = "after" if kind == "partial" else "at"
            if not isinstance(params.get(required), int) or params[required] < 0:
                raise ValueError(f"fault {kind!r} needs a non-negative int {required}=")
            times = 1
        elif kind not in _RAISING and kind != "error":
            raise ValueError(f"unknown fault kind {kind!r}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queues.setdefault(method, deque()).append(_Fault(kind, params, times))

    def pending(self, method: str | None = None) -> int:
        """Return how many fault uses are still queued (for one method or all)."""
        with self._lock:
            queues = [self._queues.get(method, deque())] if method else list(self._queues.values())
            return sum(fault.remaining for queue in queues for fault in queue)

    def _enter(self, method: str) -> _Fault | None:
        """Count the call, take its next fault, and raise it if it is a raising fault."""
        with self._lock:
            self.calls[method] += 1
            queue = self._queues.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
        if fault.kind in _RAISING or fault.kind == "error":
            raise fault.error(method)
        return fault

    def put_file(self, key: str, path: Path | str, content_type: str | None = None) -> None:
        self._enter("put_file")
        self.inner.put_file(key, path, content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._enter("put_bytes")
        self.inner.put_bytes(key, data, content_type)

    def open_read(self, key: str) -> BinaryIO:
        fault = self._enter("open_read")
        stream = self.inner.open_read(key)
        if fault is None:
            return stream
        return io.BufferedReader(_TruncatedRaw(stream, fault.params["at"]))  # type: ignore[return-value]

    def head(self, key: str) -> ObjectInfo:
        self._enter("head")
        return self.inner.head(key)

    def exists(self, key: str) -> bool:
        self._enter("exists")
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        fault = self._enter("list")
        items = self.inner.list(prefix)
        if fault is None:
            return items
        return itertools.islice(items, fault.params["after"])

    def copy(self, src_key: str, dst_key: str, *, content_type: str | None = None) -> None:
        self._enter("copy")
        self.inner.copy(src_key, dst_key, content_type=content_type)

    def delete_many(self, keys: Iterable[str]) -> int:
        self._enter("delete_many")
        return self.inner.delete_many(keys)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def key_from_uri(self, uri: str) -> str:
        return self.inner.key_from_uri(uri)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)
