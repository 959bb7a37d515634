"""Seconds from the submit request to COMPLETED for the sample media, offline, in auto mode.

The app runs as the server runs it (task runner, local batch engine and batch poller started, default
intervals: BATCH_POLLER_INTERVAL=60, BATCH_CHECK_INTERVAL=30); the files are imported with their proxies
first, untimed. Target: under 10 s for the seven sample files.

    .venv/bin/python bench/batch_latency.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app import create_app, start_background  # noqa: E402

MEDIA = Path(os.environ.get("MEDIA_DIR") or REPO / "tests" / "media")


def wait_task(client, task_id: str) -> dict:
    while (task := client.get(f"/api/tasks/{task_id}").get_json())["status"] in ("QUEUED", "RUNNING"):
        time.sleep(0.05)
    return task


def one_run() -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        shutil.copytree(MEDIA, library, ignore=shutil.ignore_patterns("*.md"))
        app = create_app({"DATA_DIR": str(Path(tmp) / "data"), "LIBRARY_ROOTS": (library,), "LOG_LEVEL": "error",
                          "BATCH_POLLER_ENABLED": True})
        start_background(app)
        client = app.test_client()
        imported = wait_task(client, client.post("/api/files/import-directory",
                                                 json={"path": str(library)}).get_json()["task_id"])
        wait_task(client, imported["result"]["proxies_task_id"])
        started = time.perf_counter()
        batch = client.post("/api/batch/nova", json={"filter": {}, "analysis_types": ["combined"],
                                                     "mode": "auto"}).get_json()
        while (body := client.get(f"/api/batch/{batch['id']}").get_json())["status"] not in (
                "COMPLETED", "PARTIAL", "FAILED", "CANCELLED"):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        services = app.extensions["services"]
        for worker in (app.extensions["batch_poller"], services.backend, services.tasks):
            worker.stop()
        return elapsed, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        elapsed, body = one_run()
        print(f"run {run}: {body['status']} in {elapsed:.2f} s: {body['files_total']} files, "
              f"{len(body['chunks'])} batch job(s), {body['on_demand']['files']} file(s) on demand "
              f"(target < 10 s)")


if __name__ == "__main__":
    main()
