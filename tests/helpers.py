"""Test helpers: waiting for background jobs through the API, a fake AWS environment."""
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
    return wait_for_job(client, response.get_json()["job_id"])
