"""Vector search: exact numpy search over the memory-mapped index vs an HNSW index (usearch), and hybrid search
through the API.

Prints, for 10,000 and 100,000 vectors of 1,024 dimensions (clustered, unit length, like embeddings of a
library): index build time, file size, resident memory added, and top-10 query latency (p50/p95 over single
queries) for app.services.vector_index.VectorIndex (exact) and usearch HNSW (recall@10 against exact). Then
the latency of GET /api/search?mode=hybrid on a database of 100,000 vectors.
Run: .venv/bin/python bench/vector_search.py [--sizes 10000,100000] [--queries 200]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 1024
MODEL = "local-embeddings-v1"


def clustered(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n // 100), DIM)).astype(np.float32)
    data = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms"


def seed_database(root: Path, vectors: np.ndarray) -> Path:
    from app.db import connect, migrate

    db = root / "app.db"
    conn = connect(db)
    migrate(conn)
    files = max(1, len(vectors) // 10)  # ten vectors a file, like a video's segments and chapters
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO files (id, path, folder, name, size_bytes, mtime, fingerprint, media_type, duration_seconds,"
        " imported_at, updated_at) VALUES (?, ?, '/lib', ?, 1, 0, ?, 'video', 150, '2026-01-01', '2026-01-01')",
        [(i, f"/lib/clip{i}.mp4", f"clip{i}.mp4", f"fp{i}") for i in range(1, files + 1)])
    conn.executemany(
        "INSERT INTO embeddings (file_id, kind, start_seconds, end_seconds, source, content_hash, backend, model,"
        " dimension, vector, created_at) VALUES (?, 'video', ?, ?, 'media', 'h', 'local', ?, ?, ?, 'now')",
        [(1 + i % files, (i // files) * 15.0, (i // files) * 15.0 + 15, MODEL, DIM, vectors[i].astype("<f4").tobytes())
         for i in range(len(vectors))])
    conn.execute("COMMIT")
    conn.close()
    return db


def bench_exact(root: Path, vectors: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, str]:
    from app.db import connect
    from app.services.vector_index import VectorIndex

    conn = connect(seed_database(root, vectors))
    before = rss_mb()
    started = time.perf_counter()
    index = VectorIndex(root / "index", MODEL, DIM)
    index.refresh(conn)
    build = time.perf_counter() - started
    reopened = VectorIndex(root / "index", MODEL, DIM)
    started = time.perf_counter()
    reopened.refresh(conn)
    reopen = time.perf_counter() - started
    for q in queries[:5]:  # page the matrix in once, as a server that has answered a search has
        reopened.search(q, 10)
    latencies, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append([m.embedding_id - 1 for m in reopened.search(q, 10)])
        latencies.append((time.perf_counter() - t) * 1000)
    size = index.path.stat().st_size / 1e6
    conn.close()
    return np.array(found), (f"exact numpy (memory-mapped): build from SQLite {build:.2f} s, reopen {reopen * 1000:.0f} ms, "
                             f"file {size:.0f} MB, RSS +{rss_mb() - before:.0f} MB, top-10 {percentiles(latencies)}")


def bench_usearch(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray) -> str:
    try:
        from usearch.index import Index
    except ImportError:
        return "usearch: not installed (pip install -r requirements-dev.txt)"
    before = rss_mb()
    started = time.perf_counter()
    index = Index(ndim=DIM, metric="cos", dtype="f32", connectivity=16, expansion_add=128, expansion_search=64)
    index.add(np.arange(len(vectors)), vectors, threads=os.cpu_count() or 1)
    build = time.perf_counter() - started
    latencies, recall = [], []
    for q, truth in zip(queries, exact):
        t = time.perf_counter()
        keys = index.search(q, 10).keys
        latencies.append((time.perf_counter() - t) * 1000)
        recall.append(len(set(keys.tolist()) & set(truth.tolist())) / 10)
    return (f"usearch HNSW (M=16, ef_add=128, ef=64): build {build:.1f} s, RSS +{rss_mb() - before:.0f} MB, "
            f"top-10 {percentiles(latencies)}, recall@10 {statistics.mean(recall):.2f}")


def bench_hybrid(root: Path, requests: int) -> str:
    """GET /api/search (hybrid) through the Flask app on the 100k database of bench_exact."""
    from app import create_app
    from app.db import connect
    from app.db import search as search_db

    conn = connect(root / "app.db")
    search_db.mark_all_dirty(conn)
    conn.close()
    app = create_app({"DATA_DIR": str(root), "DATABASE_PATH": str(root / "app.db"), "BATCH_POLLER_ENABLED": False,
                      "LOG_LEVEL": "warning", "LIBRARY_ROOTS": (root,)})
    client = app.test_client()
    client.get("/api/search", query_string={"q": "clip"})  # FTS indexing and vector index load, once
    latencies = []
    for n in range(requests):
        t = time.perf_counter()
        response = client.get("/api/search", query_string={"q": f"clip{n % 50} grey street at night"})
        latencies.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200 and response.get_json()["mode"] == "hybrid"
    return f"GET /api/search?mode=hybrid over 10,000 files / 100,000 vectors: {percentiles(latencies)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(f"vector search, {DIM} dimensions, top-10, {os.cpu_count()} CPUs")
    for size in (int(s) for s in args.sizes.split(",")):
        root = Path(tempfile.mkdtemp(prefix="bench-vectors-"))
        try:
            data = clustered(size)
            queries = clustered(args.queries, seed=11)
            exact, line = bench_exact(root, data, queries)
            print(f"{size:>7,} vectors | {line}")
            print(f"{size:>7,} vectors | {bench_usearch(data, queries, exact)}")
            if size >= 100_000:
                print(f"{size:>7,} vectors | {bench_hybrid(root, 100)}")
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
