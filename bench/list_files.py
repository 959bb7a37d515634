"""Seed 100,000 files and time GET /api/files (p50/p95 over 50 requests per case).

Run: .venv/bin/python bench/list_files.py [--files 100000] [--requests 50]
Target on the 2-core machine: p50 <= 30 ms and p95 <= 80 ms for every case.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.db import connect, transaction  # noqa: E402
from app.utils.clock import iso  # noqa: E402

WORDS = ["site", "pour", "install", "grotto", "slide", "pond", "review", "demo", "abc", "tier", "stone", "kit"]


def seed(db_path: Path, count: int) -> None:
    rng = random.Random(7)
    conn = connect(db_path)
    stamp = iso()
    with transaction(conn):
        for start in range(0, count, 5000):
            rows = []
            for i in range(start, min(count, start + 5000)):
                video = i % 4 != 0
                folder = f"/media/{rng.choice(WORDS)}/{2018 + i % 7}/{rng.choice(WORDS)}_{i % 300}"
                name = f"{rng.choice(WORDS)}_{i:06d}.{'mp4' if video else 'jpg'}"
                rows.append((
                    i + 1, f"{folder}/{name}", folder, name, rng.randint(10_000, 2_000_000_000), 0.0, f"fp{i}",
                    "video" if video else "image", "video/mp4" if video else "image/jpeg",
                    rng.uniform(5, 3600) if video else None, 1920, 1080,
                    f"20{18 + i % 7}-0{1 + i % 9}-1{i % 10}T10:00:00", stamp, stamp,
                    "completed" if i % 3 == 0 else "none",
                ))
            conn.executemany(
                "INSERT INTO files (id, path, folder, name, size_bytes, mtime, fingerprint, media_type, mime_type,"
                " duration_seconds, width, height, created_at, imported_at, updated_at, analysis_status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "UPDATE files SET proxy_bytes = ? WHERE id = ?",
                [(row[4] // 20, row[0]) for row in rows if row[0] % 2 == 0],
            )
            conn.executemany(
                "INSERT INTO derivatives (file_id, kind, path, spec, size_bytes, width, height, created_at)"
                " VALUES (?, 'proxy', ?, 'h264-720p-15fps', ?, 1280, 720, ?)",
                [(row[0], f"proxies/{row[0]}/proxy.mp4", row[4] // 20, stamp) for row in rows if row[0] % 2 == 0],
            )
    conn.execute("ANALYZE")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATA_DIR": tmp, "BATCH_POLLER_ENABLED": False})
        started = time.perf_counter()
        seed(app.config["SETTINGS"].DATABASE_PATH, args.files)
        print(f"seeded {args.files} files in {time.perf_counter() - started:.1f}s")
        client = app.test_client()
        cases = {
            "no filter": "/api/files",
            "analysis=none": "/api/files?analysis=none",
            "q=abc": "/api/files?q=abc",
            "sort=size desc": "/api/files?sort=size&order=desc",
        }
        # The last page (1999 of 2000 at 50 a page when seeded with 100,000): by OFFSET, and by the cursor a
        # client paging with `next` holds when it gets there.
        deep = max(1, args.files // 50 - 1)
        for label, sort in (("", "/api/files?"), (" size desc", "/api/files?sort=size&order=desc&")):
            cases[f"page {deep}{label}"] = f"{sort}page={deep}"
            cursor = client.get(f"{sort}page={deep - 1}").get_json()["next"] if deep > 1 else None
            cases[f"cursor {deep}{label}"] = f"{sort}cursor={cursor}" if cursor else sort
            same = [client.get(cases[f"{kind} {deep}{label}"]).get_json()["items"] for kind in ("page", "cursor")]
            assert same[0] == same[1], "the cursor must give the same page as OFFSET"
        print(f"{'case':<22} {'p50 ms':>8} {'p95 ms':>8} {'total':>8}")
        for label, url in cases.items():
            client.get(url)  # warm the page cache once
            timings = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
            timings.sort()
            p50 = statistics.median(timings)
            p95 = timings[max(0, int(round(0.95 * len(timings))) - 1)]
            print(f"{label:<22} {p50:>8.1f} {p95:>8.1f} {response.get_json()['total']:>8}")
        app.extensions["services"].tasks.stop()


if __name__ == "__main__":
    main()
