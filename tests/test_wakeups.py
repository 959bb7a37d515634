"""Wake-ups: work the app starts or finishes runs the batch pipeline at once; the interval only governs the
status calls sent to the provider."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from app.db import chunks as chunks_db
from app.services.signals import BATCH, PROVIDER, WORK, Signals
from app.utils.background import BackgroundWorker
from batch_support import conn, data_dir, seeded_template, wait_tasks  # noqa: F401
from test_faults import FaultyBackend


@pytest.fixture
def app_config(app_config):
    # An interval nobody waits out in a test: only wake-ups can move a submission along.
    return {**app_config, "LOCAL_BATCH_MIN_RECORDS": 1, "LOG_LEVEL": "warning", "BATCH_POLLER_INTERVAL": 3600,
            "BATCH_CHECK_INTERVAL": 3600, "BATCH_POLLER_ENABLED": True}


class Recorder(BackgroundWorker):
    def __init__(self):
        super().__init__(name="recorder", interval=3600)
        self.steps: list[tuple[set[str], bool]] = []
        self.stepped = threading.Event()

    def step(self, reasons, timed):
        self.steps.append((set(reasons), timed))
        self.stepped.set()


def test_a_started_worker_steps_once_at_start_and_again_for_each_wake_up_with_its_reason():
    worker = Recorder()
    worker.start()
    try:
        assert worker.stepped.wait(10)
        worker.stepped.clear()
        worker.wake("provider")
        assert worker.stepped.wait(10)
    finally:
        worker.stop()
    assert worker.steps == [(set(), True), ({"provider"}, False)]


def test_the_poller_sees_wake_ups_left_by_another_process(app):
    poller = app.extensions["batch_poller"]
    other_process = Signals(app.config["SETTINGS"].DATABASE_PATH)  # no listeners: only the database counter
    assert poller.pending() == set()
    other_process.notify(BATCH, WORK)
    assert poller.pending() == {WORK}
    assert poller.pending() == set()  # seen once
    other_process.notify(BATCH, PROVIDER)
    other_process.notify(BATCH, WORK)
    assert poller.pending() == {WORK, PROVIDER}


def test_a_wake_up_for_local_work_submits_without_asking_the_provider_about_running_jobs(app, client, conn):
    services = app.extensions["services"]
    backend = FaultyBackend(services.backend)
    app.extensions["services"] = replace(services, backend=backend)
    poller = app.extensions["batch_poller"]
    poller.services = app.extensions["services"]
    poller.run_once()  # the first cycle after start-up reconciles everything
    response = client.post("/api/batch/nova", json={"filter": {"media_type": "video"},
                                                    "analysis_types": ["combined"], "mode": "batch"})
    batch = response.get_json()
    wait_tasks(app, batch)
    backend.calls.clear()
    poller.step({WORK}, timed=False)
    assert backend.calls == {"create_batch_job": 1}
    assert chunks_db.list_chunks(conn, batch["id"])[0]["status"] == "SUBMITTED"
    services.backend.run_once()  # the local engine runs the job
    poller.step({PROVIDER}, timed=False)  # the engine said a job ended: every running chunk is checked
    assert backend.calls.get("get_batch_job", 0) == 1
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"


def test_the_server_finishes_a_submission_by_wake_ups_alone(app, client):
    """Poller, engine and tasks started as the server starts them; the hour-long interval never comes."""
    services = app.extensions["services"]
    poller = app.extensions["batch_poller"]
    services.backend.start()
    poller.start()
    try:
        response = client.post("/api/batch/nova", json={"filter": {}, "analysis_types": ["combined"],
                                                        "mode": "auto"})
        assert response.status_code == 201, response.get_json()
        batch_id = response.get_json()["id"]
        deadline = time.monotonic() + 120
        while (status := client.get(f"/api/batch/{batch_id}").get_json()["status"]) not in (
                "COMPLETED", "PARTIAL", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == "COMPLETED"
    finally:
        poller.stop()
        services.backend.stop()
