"""Test helpers: waiting for background jobs through the API."""
from __future__ import annotations

import time
from pathlib import Path

import pytest


def wait_for_job(client, job_id: str, timeout: float = 120.0) -> dict:
    """Poll the jobs API until the job is terminal; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.get_json()
        job = response.get_json()
        if job["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        time.sleep(0.05)


def import_folder(client, folder: Path, **extra) -> dict:
    response = client.post("/api/files/import-directory", json={"path": str(folder), **extra})
    assert response.status_code == 202, response.get_json()
    return wait_for_job(client, response.get_json()["job_id"])
