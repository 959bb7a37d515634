"""Helpers for browser tests: setting up state through the JSON API (the UI paths have their own tests)."""
from __future__ import annotations

import time


def wait_job(page, base: str, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = page.request.get(f"{base}/api/tasks/{job_id}").json()
        if job["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def post_json(page, url: str, body: dict) -> dict:
    response = page.request.post(url, data=body)  # Playwright sends a dict as JSON
    assert response.ok, (url, response.status, response.text())
    return response.json()


def import_via_api(page, base: str, folder) -> dict:
    job = post_json(page, f"{base}/api/files/import-directory", {"path": str(folder), "recursive": True})
    done = wait_job(page, base, job["task_id"])
    assert done["status"] == "SUCCEEDED", done
    if done["result"].get("proxies_task_id"):
        assert wait_job(page, base, done["result"]["proxies_task_id"])["status"] == "SUCCEEDED"
    return done
