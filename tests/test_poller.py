"""The batch poller: full cycles, the cross-process lease, stats, admin API, cleanup and restarts."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import poller as poller_db
from app.services.poller import BatchPoller
from batch_support import conn, data_dir, db, seeded_template, wait_tasks  # noqa: F401
from helpers import wait_for_task_row

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def app_config(app_config):
    # Enabled, but a testing app never starts the thread by itself: tests call poll_once().
    return {**app_config, "LOCAL_BATCH_MIN_RECORDS": 1, "LOG_LEVEL": "warning", "BATCH_CHECK_INTERVAL": 0,
            "BATCH_POLLER_ENABLED": True}


def submit(client) -> dict:
    response = client.post("/api/batch/nova", json={"filter": {"media_type": "video"},
                                                    "analysis_types": ["combined"], "mode": "batch"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def drive(app, poller: BatchPoller, batch_id: int, conn, rounds: int = 8) -> None:
    """Poller cycles with the local engine's work in between, until the submission is terminal."""
    for _ in range(rounds):
        outcome = poller.run_once()
        assert not outcome["skipped"] and outcome["errors"] == [], outcome
        if batches_db.get_batch(conn, batch_id)["status"] in batches_db.BATCH_TERMINAL:
            return
        app.extensions["services"].backend.run_once()
    raise AssertionError(f"batch {batch_id} did not finish")


def test_poll_once_takes_a_submission_to_completed_and_cleans_its_staging(app, client, conn):
    batch = submit(client)
    wait_tasks(app, batch)
    store = app.extensions["services"].store
    assert list(store.list("nova_batch/")), "staging exists before the job runs"
    poller = app.extensions["batch_poller"]
    drive(app, poller, batch["id"], conn)
    body = client.get(f"/api/batch/{batch['id']}").get_json()
    assert body["status"] == "COMPLETED"
    assert all(c["status"] == "COMPLETED" for c in body["chunks"])
    assert client.get("/api/files?analysis=completed&media_type=video").get_json()["total"] == 3
    assert list(store.list("nova_batch/")) == [] and list(store.list("nova_batch_output/")) == []
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    assert chunk["cleanup_completed_at"] is not None
    proxies = list((app.config["SETTINGS"].DATA_DIR / "proxies").rglob("proxy.mp4"))
    assert len(proxies) == 3 and all(p.stat().st_size > 0 for p in proxies), "library proxies are never cleaned"
    stats = client.get("/api/nova/batch/poller/status").get_json()
    assert stats["polls_count"] >= 2 and stats["jobs_submitted"] == 1 and stats["results_fetched"] == 1
    assert stats["jobs_completed"] == 1 and stats["cleanups_performed"] == 1 and stats["jobs_checked"] >= 1
    assert stats["last_poll_time"] and stats["lease_holder"] == poller.holder
    assert stats["running"] is False and stats["enabled"] is True


def test_only_one_poller_acts_while_the_lease_is_held(app, conn):
    services = app.extensions["services"]
    path = app.config["SETTINGS"].DATABASE_PATH
    first = BatchPoller(services, holder="first", lease_seconds=60)
    second = BatchPoller(services, holder="second", lease_seconds=60)
    assert first.run_once()["skipped"] is False
    blocked = second.run_once()
    assert blocked["skipped"] is True and "first" in blocked["reason"]
    assert first.run_once()["skipped"] is False  # the holder renews
    conn.execute("UPDATE leases SET claimed_until = '2000-01-01T00:00:00.000000+00:00'")  # the holder died: its lease ran out
    assert second.run_once()["skipped"] is False
    assert first.run_once()["skipped"] is True


def test_stop_is_immediate_and_start_stop_report_their_state(app, client):
    poller = app.extensions["batch_poller"]
    poller.interval = 3600
    started = client.post("/api/nova/batch/poller/start", json={})
    assert started.status_code == 200 and started.get_json()["running"] is True
    again = client.post("/api/nova/batch/poller/start", json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_running"
    t0 = time.monotonic()
    stopped = client.post("/api/nova/batch/poller/stop", json={})
    assert stopped.status_code == 200 and stopped.get_json()["running"] is False
    assert time.monotonic() - t0 < 5, "the loop waits on an Event, so stop does not wait for the interval"
    assert client.post("/api/nova/batch/poller/stop", json={}).status_code == 409
    assert poller_db.get_stats(db(app))["polls_count"] >= 1  # the thread ran its first cycle


def test_start_is_refused_when_disabled_by_configuration(app_config):
    from app import create_app

    application = create_app({**app_config, "BATCH_POLLER_ENABLED": False})
    try:
        response = application.test_client().post("/api/nova/batch/poller/start", json={})
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "poller_disabled"
        status = application.test_client().get("/api/nova/batch/poller/status").get_json()
        assert status["enabled"] is False and status["running"] is False
    finally:
        application.extensions["services"].tasks.stop()


def test_process_completed_runs_a_cycle_even_when_stopped(app, client, conn):
    batch = submit(client)
    wait_tasks(app, batch)
    first = client.post("/api/nova/batch/poller/process-completed", json={}).get_json()
    assert first["pipeline"]["submit"]["submitted"] == 1
    app.extensions["services"].backend.run_once()
    second = client.post("/api/nova/batch/poller/process-completed", json={}).get_json()
    assert second["pipeline"]["ingest"]["ingested"] == 1
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"


def test_errors_are_kept_last_ten_and_never_stop_the_loop(app, conn, monkeypatch):
    poller = app.extensions["batch_poller"]
    from app.services import poller as poller_module

    def broken(*_args, **_kwargs):
        return {"errors": ["submit: service unavailable"]}

    monkeypatch.setattr(poller_module, "provider_pipelines", lambda: {"batch": broken})
    for _ in range(12):
        assert poller.run_once()["errors"] == ["submit: service unavailable"]
    errors = poller.status()["errors"]
    assert len(errors) == 10 and errors[0]["message"] == "submit: service unavailable" and errors[0]["time"]


def test_retry_fetch_requeues_only_result_fetch_failed_chunks(app, client, conn):
    batch = submit(client)
    wait_tasks(app, batch)
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    refused = client.post(f"/api/batch/chunks/{chunk['id']}/retry-fetch", json={})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "not_retryable"
    conn.execute("UPDATE chunks SET status = 'RESULT_FETCH_FAILED', results_fetch_attempts = 3"
                 " WHERE id = ?", (chunk["id"],))
    response = client.post(f"/api/batch/chunks/{chunk['id']}/retry-fetch", json={})
    assert response.status_code == 200 and response.get_json()["status"] == "FETCHING"
    row = chunks_db.get_chunk(conn, chunk["id"])
    assert row["status"] == "FETCHING" and row["results_fetch_attempts"] == 0
    assert client.post("/api/batch/chunks/999999/retry-fetch", json={}).status_code == 404


def test_a_submission_whose_staging_job_was_lost_is_restaged(app, client, conn):
    batch = submit(client)
    wait_tasks(app, batch)
    # Simulate a crash right after the submission was saved: chunks STAGING, no staging job.
    conn.execute("UPDATE chunks SET status = 'STAGING' WHERE batch_id = ?", (batch["id"],))
    conn.execute("UPDATE batches SET stage_task_id = NULL, created_at = '2000-01-01T00:00:00+00:00' WHERE id = ?",
                 (batch["id"],))
    outcome = app.extensions["batch_poller"].run_once()
    assert outcome["restarted_tasks"] == 1
    new_task = batches_db.get_batch(conn, batch["id"])["stage_task_id"]
    assert wait_for_task_row(app, new_task)["status"] == "SUCCEEDED"
    drive(app, app.extensions["batch_poller"], batch["id"], conn)
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"


TWO_PROCESS_SCRIPT = textwrap.dedent("""
    import sqlite3
    import sys
    import time

    from app import create_app

    app = create_app({"DATA_DIR": sys.argv[1], "LIBRARY_ROOTS": (sys.argv[1],), "LOCAL_BATCH_MIN_RECORDS": 1,
                      "BATCH_CHECK_INTERVAL": 0, "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning"})
    poller = app.extensions["batch_poller"]
    engine = app.extensions["services"].backend
    deadline = time.monotonic() + 90
    acted = 0
    while time.monotonic() < deadline:
        outcome = poller.run_once()
        if not outcome["skipped"]:
            acted += 1
            poller.release_lease()  # hand over, so both processes take turns
        engine.run_once()
        conn = sqlite3.connect(sys.argv[2])
        status = conn.execute("SELECT status FROM batches").fetchone()[0]
        cleaned = conn.execute("SELECT COUNT(*) FROM chunks WHERE cleanup_completed_at IS NULL").fetchone()[0]
        conn.close()
        if status in ("COMPLETED", "PARTIAL", "FAILED") and cleaned == 0:
            break
        time.sleep(0.05)
    print("acted", acted)
    app.extensions["services"].tasks.stop()
""")


def test_two_processes_on_one_database_never_ingest_or_clean_twice(app, client, conn, data_dir, tmp_path):
    batch = submit(client)
    wait_tasks(app, batch)
    script = tmp_path / "poll.py"
    script.write_text(TWO_PROCESS_SCRIPT)
    db_path = str(app.config["SETTINGS"].DATABASE_PATH)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, str(script), str(data_dir), db_path], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=150) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-2000:]
    acted = [int(out.split()[-1]) for out, _ in outputs]
    print("cycles acted per process:", acted)
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"
    stats = poller_db.get_stats(conn)
    assert stats["results_fetched"] == 1 and stats["cleanups_performed"] == 1 and stats["jobs_submitted"] == 1
    rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || analysis_type) FROM analysis_results"
                        " WHERE status = 'COMPLETED'").fetchone()
    assert rows[0] == rows[1] == 3
