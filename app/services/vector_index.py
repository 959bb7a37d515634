"""Exact nearest-neighbour search over one space's vectors: a memory-mapped float32 matrix under DATA_DIR.

The database holds the vectors; this is a derived cache. On every search the index compares itself with the
database (largest id, count, and a counter every delete bumps): new rows are read and appended in memory,
deleted rows are masked, and when the appended or masked part grows, or the file is missing, unreadable or
of another space, the file is written again from the database (to a temporary name, then renamed, so other
processes keep reading the old one until they reopen). Why exact search with numpy and not an HNSW library:
BENCHMARKS.md ("Vector search") and docs/embeddings-facts.md.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.db import embeddings as embeddings_db

log = logging.getLogger(__name__)

MAGIC = b"MLVIDX01"
HEADER_BYTES = 4096
FORMAT = 1
KIND_CODES = {kind: code for code, kind in enumerate(("image", "video", "audio", "summary", "chapter", "transcript"))}
# Rewrite the file when this share of its rows was appended in memory or deleted since it was written.
REWRITE_SHARE = 0.1
REWRITE_MIN_ROWS = 2000


@dataclass(frozen=True)
class Match:
    """One vector near the query."""

    embedding_id: int
    file_id: int
    score: float


class VectorIndex:
    """Top-k cosine search over the unit vectors of one (model, dimension) space."""

    def __init__(self, folder: Path, model: str, dimension: int) -> None:
        self.folder = folder
        self.model = model
        self.dimension = dimension
        slug = re.sub(r"[^a-zA-Z0-9.-]+", "_", model)
        self.path = folder / f"{slug}-{dimension}.idx"
        self._lock = threading.Lock()
        self._matrix: np.ndarray | None = None  # rows as written to the file (memory-mapped)
        self._ids = np.zeros(0, dtype=np.int64)
        self._files = np.zeros(0, dtype=np.int64)
        self._kinds = np.zeros(0, dtype=np.int8)
        self._tail: list[np.ndarray] = []  # rows appended since (float32, unit)
        self._alive = np.zeros(0, dtype=bool)
        self._state: tuple[int, int, int] | None = None  # (max id, count, delete counter) it matches
        self.rebuilds = 0

    # ---- keeping up with the database ---------------------------------------------------------------

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Bring the index level with the database (see the module docstring)."""
        state = embeddings_db.space_state(conn, self.model, self.dimension)
        with self._lock:
            if self._state == state:
                return
            if self._state is None and not self._load(state):
                self._rebuild(conn, state)
                return
            if self._state is not None and self._state[2] != state[2]:
                alive_ids = np.asarray(embeddings_db.space_ids(conn, self.model, self.dimension), dtype=np.int64)
                self._alive &= np.isin(self._ids, alive_ids)
            self._append(conn, self._state[0] if self._state else 0)
            dead = int((~self._alive).sum())
            if int(self._alive.sum()) != state[1]:
                log.warning("vector index of %s/%d disagrees with the database; rebuilding", self.model, self.dimension)
                self._rebuild(conn, state)
                return
            written = 0 if self._matrix is None else len(self._matrix)
            if max(dead, self._tail_rows()) > max(REWRITE_MIN_ROWS, REWRITE_SHARE * written):
                self._rebuild(conn, state)
                return
            self._state = state

    def _tail_rows(self) -> int:
        return sum(len(block) for block in self._tail)

    def _append(self, conn: sqlite3.Connection, after_id: int) -> None:
        for rows in embeddings_db.iter_space(conn, self.model, self.dimension, after_id):
            block, ids, files, kinds = _decode(rows, self.dimension)
            self._tail.append(block)
            self._ids = np.concatenate([self._ids, ids])
            self._files = np.concatenate([self._files, files])
            self._kinds = np.concatenate([self._kinds, kinds])
            self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])

    def _rebuild(self, conn: sqlite3.Connection, state: tuple[int, int, int]) -> None:
        """Write the file again from the database and map it."""
        self._matrix, self._tail = None, []
        self._ids = np.zeros(0, dtype=np.int64)
        self._files = np.zeros(0, dtype=np.int64)
        self._kinds = np.zeros(0, dtype=np.int8)
        self._alive = np.zeros(0, dtype=bool)
        self._append(conn, 0)
        matrix = np.concatenate(self._tail) if self._tail else np.zeros((0, self.dimension), dtype=np.float32)
        # Rows appended after the state was read belong to the next refresh: stop at its max id.
        keep = self._ids <= state[0]
        self._write(matrix[keep], self._ids[keep], self._files[keep], self._kinds[keep], state)
        self.rebuilds += 1
        if not self._load(state):
            raise RuntimeError(f"the vector index {self.path} could not be read back")

    def _write(self, matrix: np.ndarray, ids: np.ndarray, files: np.ndarray, kinds: np.ndarray,
               state: tuple[int, int, int]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"format": FORMAT, "model": self.model, "dimension": self.dimension, "rows": len(ids),
                           "state": list(state)}).encode("utf-8")
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as out:
            out.write(MAGIC + len(meta).to_bytes(8, "little") + meta)
            out.write(b"\0" * (HEADER_BYTES - out.tell()))
            for array in (ids.astype("<i8"), files.astype("<i8"), kinds.astype("i1")):
                out.write(array.tobytes())
            out.write(b"\0" * (-out.tell() % 64))  # the matrix starts on a 64-byte boundary
            out.write(np.ascontiguousarray(matrix, dtype="<f4").tobytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _load(self, state: tuple[int, int, int]) -> bool:
        """Map the file if it exists and belongs to this space; the rows above its state are appended later."""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(HEADER_BYTES)
            if head[:8] != MAGIC:
                return False
            meta = json.loads(head[16:16 + int.from_bytes(head[8:16], "little")])
            if (meta["format"], meta["model"], meta["dimension"]) != (FORMAT, self.model, self.dimension):
                return False
            rows = int(meta["rows"])
            offset = HEADER_BYTES
            ids = np.fromfile(self.path, dtype="<i8", count=rows, offset=offset)
            files = np.fromfile(self.path, dtype="<i8", count=rows, offset=offset + 8 * rows)
            kinds = np.fromfile(self.path, dtype="i1", count=rows, offset=offset + 16 * rows)
            start = offset + 17 * rows
            start += -start % 64
            matrix = np.memmap(self.path, dtype="<f4", mode="r", offset=start, shape=(rows, self.dimension)) \
                if rows else np.zeros((0, self.dimension), dtype=np.float32)
        except (OSError, ValueError, KeyError, TypeError):
            log.info("vector index %s missing or unreadable; building it", self.path)
            return False
        if len(ids) != rows or len(kinds) != rows:
            return False
        self._matrix, self._tail = matrix, []
        self._ids, self._files, self._kinds = ids, files, kinds
        self._alive = np.ones(rows, dtype=bool)
        written = tuple(meta["state"])
        self._state = (written[0], written[1], written[2])
        if written[2] != state[2]:  # deletes since it was written: mask them on this refresh
            self._state = (written[0], written[1], -1)
        return True

    # ---- searching --------------------------------------------------------------------------------------

    def search(self, query: np.ndarray, limit: int, *, files: np.ndarray | None = None,
               kinds: tuple[str, ...] | None = None, exclude_file: int | None = None) -> list[Match]:
        """The `limit` best vectors by cosine (vectors and query are unit length), best first."""
        with self._lock:
            scores = self._scores(np.asarray(query, dtype=np.float32))
            mask = self._alive.copy()
            if files is not None:
                mask &= np.isin(self._files, files)
            if kinds is not None:
                mask &= np.isin(self._kinds, [KIND_CODES[k] for k in kinds])
            if exclude_file is not None:
                mask &= self._files != exclude_file
            candidates = np.flatnonzero(mask)
            if not len(candidates) or limit <= 0:
                return []
            chosen = scores[candidates]
            if len(candidates) > limit:
                top = np.argpartition(-chosen, limit - 1)[:limit]
            else:
                top = np.arange(len(candidates))
            order = top[np.lexsort((self._ids[candidates[top]], -chosen[top]))]
            return [Match(int(self._ids[candidates[i]]), int(self._files[candidates[i]]), float(chosen[i]))
                    for i in order]

    def _scores(self, query: np.ndarray) -> np.ndarray:
        parts = []
        if self._matrix is not None and len(self._matrix):
            parts.append(self._matrix @ query)
        parts.extend(block @ query for block in self._tail)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    @property
    def size(self) -> int:
        return int(self._alive.sum())


def _decode(rows: list[sqlite3.Row], dimension: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    block = np.frombuffer(b"".join(row["vector"] for row in rows), dtype="<f4").reshape(len(rows), dimension)
    return (block.astype(np.float32), np.array([row["id"] for row in rows], dtype=np.int64),
            np.array([row["file_id"] for row in rows], dtype=np.int64),
            np.array([KIND_CODES[row["kind"]] for row in rows], dtype=np.int8))


class VectorIndexes:
    """The process's indexes, one per space, under DATA_DIR/vector-index."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._indexes: dict[tuple[str, int], VectorIndex] = {}
        self._lock = threading.Lock()

    def get(self, conn: sqlite3.Connection, model: str, dimension: int) -> VectorIndex:
        """The space's index, level with the database."""
        with self._lock:
            index = self._indexes.get((model, dimension))
            if index is None:
                index = self._indexes[(model, dimension)] = VectorIndex(self.folder, model, dimension)
        index.refresh(conn)
        return index
