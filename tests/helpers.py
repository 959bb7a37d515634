"""Test helpers: waiting for background tasks through the API, a fake AWS environment."""
from __future__ import annotations

import time
from pathlib import Path

import pytest


def wait_for_task(client, task_id: str, timeout: float = 120.0) -> dict:
    """Poll the tasks API until the task is terminal; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.get_json()
        task = response.get_json()
        if task["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return task
        if time.monotonic() > deadline:
            pytest.fail(f"task {task_id} still {task['status']} after {timeout}s: {task}")
        time.sleep(0.05)


def fake_aws_env(mp: pytest.MonkeyPatch, folder: Path, *, secret: str = "fake-secret") -> None:
    """Fake credentials and empty AWS config files, so nothing from the developer's machine is used."""
    mp.delenv("AWS_PROFILE", raising=False)
    mp.delenv("AWS_SECURITY_TOKEN", raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    mp.setenv("AWS_SECRET_ACCESS_KEY", secret)
    mp.setenv("AWS_SESSION_TOKEN", "fake-session-token")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


def import_folder(client, folder: Path, **extra) -> dict:
    response = client.post("/api/files/import-directory", json={"path": str(folder), **extra})
    assert response.status_code == 202, response.get_json()
    return wait_for_task(client, response.get_json()["task_id"])


def wait_for_task_row(app, task_id: str, timeout: float = 120.0):
    """Wait for a task run by the app's task runner to end; its row."""
    from app.db import connect
    from app.db import tasks as tasks_db

    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        deadline = time.monotonic() + timeout
        while True:
            row = tasks_db.get_task(conn, task_id)
            if row is not None and row["status"] in tasks_db.TERMINAL_STATUSES:
                return row
            if time.monotonic() > deadline:
                pytest.fail(f"task {task_id} still {row['status'] if row else 'missing'} after {timeout}s")
            time.sleep(0.05)
    finally:
        conn.close()
