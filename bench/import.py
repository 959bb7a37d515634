"""Import 2,000 files (copies of the sample media) and report files per second.

Run: .venv/bin/python bench/import.py [--files 2000]
Target on the 2-core machine: >= 100 files/s (metadata only; proxies are a separate job).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402

MEDIA = Path(os.environ.get("MEDIA_DIR") or Path(__file__).resolve().parents[1] / "tests" / "media")
SAMPLES = sorted(p for p in MEDIA.iterdir() if p.suffix.lower() in {".mp4", ".jpg"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        for index in range(args.files):
            source = SAMPLES[index % len(SAMPLES)]
            folder = library / f"project_{index % 20:02d}" / f"day_{index % 7}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / f"{index:05d}_{source.name}")
        app = create_app({"DATA_DIR": str(Path(tmp) / "data"), "LIBRARY_ROOTS": (library,),
                          "BATCH_POLLER_ENABLED": False})
        app.extensions["services"].tasks.start()
        client = app.test_client()
        started = time.perf_counter()
        task_id = client.post("/api/files/import-directory",
                              json={"path": str(library), "generate_proxies": False}).get_json()["task_id"]
        while (body := client.get(f"/api/tasks/{task_id}").get_json())["status"] in ("QUEUED", "RUNNING"):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        print(f"status={body['status']} imported={body['imported']} failed={body['failed_count']}")
        print(f"{args.files} files in {elapsed:.2f}s = {args.files / elapsed:.0f} files/s")
        app.extensions["services"].tasks.stop()


if __name__ == "__main__":
    main()
