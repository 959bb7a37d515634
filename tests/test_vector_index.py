"""The vector index: exact top-k, kept level with the database (appends, deletes), rebuilt when its file is
missing, stale or unreadable, and filtered by file, kind and exclusion."""
from __future__ import annotations

import numpy as np
import pytest

from app.db import connect, migrate, transaction
from app.db import embeddings as embeddings_db
from app.db.embeddings import VectorRow
from app.services.embeddings import pack
from app.services.vector_index import VectorIndex
from app.utils.clock import utcnow

DIM = 16


@pytest.fixture
def conn(tmp_path):
    db = connect(tmp_path / "app.db")
    migrate(db)
    for n in range(1, 6):
        db.execute("INSERT INTO files (id, path, folder, name, size_bytes, mtime, fingerprint, media_type, imported_at,"
                   " updated_at) VALUES (?, ?, '/l', ?, 1, 0, ?, 'image', 'now', 'now')", (n, f"/l/{n}.jpg", f"{n}.jpg", f"fp{n}"))
    yield db
    db.close()


def axis(i: int, noise: float = 0.0) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    v[(i + 1) % DIM] = noise
    return v


def add(conn, file_id: int, vector: np.ndarray, kind: str = "image") -> None:
    with transaction(conn):
        embeddings_db.insert_vectors(conn, [VectorRow(file_id, kind, None, None, "media", None, "h", pack(vector))],
                                     backend="local", model="m", dimension=DIM, now=utcnow())


def files_found(index, query, limit=10, **where):
    return [m.file_id for m in index.search(query, limit, **where)]


def test_top_k_is_exact_and_ordered_by_cosine(conn, tmp_path):
    for file_id, noise in ((1, 0.1), (2, 0.5), (3, 2.0)):
        add(conn, file_id, axis(0, noise))
    add(conn, 4, axis(5))
    index = VectorIndex(tmp_path / "idx", "m", DIM)
    index.refresh(conn)
    assert files_found(index, axis(0)) == [1, 2, 3, 4]
    scores = [m.score for m in index.search(axis(0), 2)]
    assert len(scores) == 2 and scores[0] > scores[1] and scores[0] == pytest.approx(1 / np.sqrt(1.01), rel=1e-5)


def test_new_rows_are_appended_and_deleted_files_disappear(conn, tmp_path):
    add(conn, 1, axis(0))
    index = VectorIndex(tmp_path / "idx", "m", DIM)
    index.refresh(conn)
    add(conn, 2, axis(0, 0.2))
    index.refresh(conn)
    assert files_found(index, axis(0)) == [1, 2] and index.rebuilds == 1  # appended, not rebuilt
    conn.execute("DELETE FROM files WHERE id = 1")  # vectors go with the file (ON DELETE CASCADE)
    assert conn.execute("SELECT COUNT(*) FROM embeddings WHERE file_id = 1").fetchone()[0] == 0
    index.refresh(conn)
    assert files_found(index, axis(0)) == [2]


def test_a_missing_or_corrupt_file_is_rebuilt_from_the_database(conn, tmp_path):
    add(conn, 1, axis(0))
    add(conn, 2, axis(3))
    VectorIndex(tmp_path / "idx", "m", DIM).refresh(conn)
    fresh = VectorIndex(tmp_path / "idx", "m", DIM)
    fresh.refresh(conn)
    assert fresh.rebuilds == 0 and files_found(fresh, axis(3))[0] == 2  # read from its file
    fresh.path.write_bytes(b"garbage")
    broken = VectorIndex(tmp_path / "idx", "m", DIM)
    broken.refresh(conn)
    assert broken.rebuilds == 1 and files_found(broken, axis(3))[0] == 2
    fresh.path.unlink()
    missing = VectorIndex(tmp_path / "idx", "m", DIM)
    missing.refresh(conn)
    assert missing.rebuilds == 1 and missing.path.exists() and missing.size == 2


def test_a_stale_file_catches_up_with_rows_and_deletes_made_since(conn, tmp_path):
    add(conn, 1, axis(0))
    add(conn, 2, axis(0, 0.3))
    VectorIndex(tmp_path / "idx", "m", DIM).refresh(conn)
    conn.execute("DELETE FROM files WHERE id = 2")
    add(conn, 3, axis(0, 0.1))
    later = VectorIndex(tmp_path / "idx", "m", DIM)
    later.refresh(conn)
    assert files_found(later, axis(0)) == [1, 3] and later.size == 2


def test_filters_by_files_kinds_and_exclusion(conn, tmp_path):
    add(conn, 1, axis(0))
    add(conn, 2, axis(0, 0.1), kind="video")
    add(conn, 3, axis(0, 0.2), kind="summary")
    index = VectorIndex(tmp_path / "idx", "m", DIM)
    index.refresh(conn)
    assert files_found(index, axis(0), files=np.array([2, 3])) == [2, 3]
    assert files_found(index, axis(0), kinds=("image", "video")) == [1, 2]
    assert files_found(index, axis(0), exclude_file=1) == [2, 3]


def test_other_spaces_are_not_mixed_in(conn, tmp_path):
    add(conn, 1, axis(0))
    with transaction(conn):
        embeddings_db.insert_vectors(conn, [VectorRow(2, "image", None, None, "media", None, "h",
                                                      pack(np.ones(32, dtype=np.float32)))],
                                     backend="bedrock", model="other", dimension=32, now=utcnow())
    index = VectorIndex(tmp_path / "idx", "m", DIM)
    index.refresh(conn)
    assert files_found(index, axis(0)) == [1]
