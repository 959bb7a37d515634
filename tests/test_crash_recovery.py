"""Kill the real app with SIGKILL at the riskiest moments; after a restart every submission must finish
with every record stored exactly once, no second batch job, and its staging cleaned."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from batch_support import copy_template, seeded_template  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python run.py` on a copy of the seeded data dir."""

    def __init__(self, data_dir: Path, library: Path, log_path: Path):
        self.data_dir, self.library, self.log_path = data_dir, library, log_path
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, crashpoint: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "APP_CRASHPOINT"}
        env.update(DATA_DIR=str(self.data_dir), LIBRARY_ROOTS=str(self.library), PORT=str(self.port),
                   LOCAL_BATCH_MIN_RECORDS="1", BATCH_POLLER_INTERVAL="0.3", BATCH_CHECK_INTERVAL="0",
                   LOG_LEVEL="warning", PYTHONPATH=str(REPO))
        if crashpoint:
            env["APP_CRASHPOINT"] = crashpoint
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "run.py"], cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/api/health")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited early: {self.log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        raise AssertionError("server did not start")

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def wait_killed(self, timeout: float = 90) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server(tmp_path, seeded_template):
    data = copy_template(seeded_template, tmp_path / "data")
    srv = Server(data, seeded_template.library.parent, tmp_path / "server.log")
    yield srv
    srv.stop()


def _cleaned(data_dir: Path) -> bool:
    conn = sqlite3.connect(data_dir / "app.db")
    try:
        return conn.execute("SELECT COUNT(*) FROM chunks WHERE cleanup_completed_at IS NULL").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.parametrize("crashpoint", ["staging", "after_create", "mid_ingest", "cleanup"])
def test_a_killed_app_finishes_every_submission_after_restart(server, crashpoint):
    server.start(crashpoint=crashpoint)
    batch = server.request("POST", "/api/batch/nova", {"filter": {"media_type": "video"},
                                                       "analysis_types": ["combined"], "mode": "batch"})
    assert server.wait_killed() == -signal.SIGKILL, server.log_path.read_text()[-3000:]

    server.start()
    deadline = time.monotonic() + 60
    body = {}
    while time.monotonic() < deadline:
        body = server.get(f"/api/batch/{batch['id']}")
        if body["status"] in ("COMPLETED", "PARTIAL", "FAILED") and _cleaned(server.data_dir):
            break
        time.sleep(0.3)
    if body["status"] != "COMPLETED":
        conn = sqlite3.connect(server.data_dir / "app.db")
        state = {"chunks": conn.execute("SELECT status, provider_status, last_error, job_arn FROM chunks")
                 .fetchall(), "tasks": conn.execute("SELECT kind, status, error FROM tasks").fetchall(),
                 "runs": conn.execute("SELECT status, error_code FROM analysis_runs").fetchall()}
        pytest.fail(f"submission ended {body['status']}: {state}\n{server.log_path.read_text()[-3000:]}")
    server.stop()

    conn = sqlite3.connect(server.data_dir / "app.db")
    stored = conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || '/' || analysis_type) FROM analysis_results"
                          " WHERE status = 'COMPLETED'").fetchone()
    assert stored == (3, 3), "every record stored exactly once"
    chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    jobs = conn.execute("SELECT COUNT(*) FROM local_batch_jobs").fetchone()[0]
    assert jobs == chunks == 1, "no second batch job was created"
    assert _cleaned(server.data_dir)
    leftovers = [p for p in (server.data_dir / "objects").rglob("*") if p.is_file() and "nova_batch" in str(p)]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("crashpoint", ["mid_ingest", "merge"])
def test_a_killed_app_merges_a_segmented_file_exactly_once_after_restart(server, crashpoint):
    """mid_ingest: killed right after the transaction that stored the last segment answer and queued the merge;
    merge: killed inside the merge task, after its model call and before it stored the merged result."""
    server.start(crashpoint=crashpoint)
    batch = server.request("POST", "/api/batch/nova", {
        "filter": {"q": "one-by-one"}, "analysis_types": ["combined"], "mode": "batch",
        "options": {"segment_seconds": 60, "segment_overlap": 10}})
    assert batch["plan"]["segments"] == 3
    assert server.wait_killed() == -signal.SIGKILL, server.log_path.read_text()[-3000:]
    conn = sqlite3.connect(server.data_dir / "app.db")
    try:
        # The kill came after the last answer was stored and before the merged result was.
        assert conn.execute("SELECT COUNT(*) FROM analysis_segment_results WHERE status = 'COMPLETED'").fetchone()[0] == 3
        assert conn.execute("SELECT status, merge_task_id IS NOT NULL FROM analysis_results").fetchall() == [
            ("PENDING", 1)]
    finally:
        conn.close()

    server.start()
    deadline = time.monotonic() + 60
    body = {}
    while time.monotonic() < deadline:
        body = server.get(f"/api/batch/{batch['id']}")
        if body["status"] in ("COMPLETED", "PARTIAL", "FAILED") and _cleaned(server.data_dir):
            break
        time.sleep(0.3)
    assert body["status"] == "COMPLETED", (body, server.log_path.read_text()[-3000:])
    server.stop()

    conn = sqlite3.connect(server.data_dir / "app.db")
    try:
        merges = conn.execute("SELECT status FROM tasks WHERE kind = 'merge'").fetchall()
        assert merges == [("SUCCEEDED",)], "one merge task, run to the end once"
        merged = conn.execute("SELECT status, error_code, tokens_input FROM analysis_results").fetchall()
        segments = conn.execute("SELECT COUNT(*), SUM(tokens_input) FROM analysis_segment_results"
                                " WHERE status = 'COMPLETED'").fetchone()
        assert segments[0] == 3 and len(merged) == 1 and merged[0][:2] == ("COMPLETED", None)
        assert merged[0][2] > segments[1], "the merged result counts its segments and the one merge call"
        assert conn.execute("SELECT status FROM analysis_runs").fetchall() == [("COMPLETED",)]
        assert conn.execute("SELECT COUNT(*) FROM local_batch_jobs").fetchone()[0] == 1
    finally:
        conn.close()
