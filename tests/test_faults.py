"""Faults injected into the S3 and Bedrock layers: nothing is lost, and each chunk completes once the fault
clears. Driven by the poller's own cycle over the local engine."""
from __future__ import annotations

from dataclasses import replace

import pytest

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.inference.base import InferenceBackend, NotFoundError, ThrottlingError, TransientServiceError, ValidationError
from app.storage import FaultyObjectStore
from batch_support import conn, data_dir, seeded_template, wait_tasks  # noqa: F401


class FaultyBackend(InferenceBackend):
    """Delegates to the real (local) engine, raising queued errors first, per method."""

    name = "faulty"

    def __init__(self, inner: InferenceBackend):
        self.inner = inner
        self.faults: dict[str, list[Exception]] = {}
        self.calls: dict[str, int] = {}
        self.after_call_faults: dict[str, list[Exception]] = {}

    def inject(self, method: str, *errors: Exception, after_call: bool = False) -> None:
        (self.after_call_faults if after_call else self.faults).setdefault(method, []).extend(errors)

    def _call(self, method: str, *args, **kwargs):
        self.calls[method] = self.calls.get(method, 0) + 1
        queued = self.faults.get(method)
        if queued:
            raise queued.pop(0)
        result = getattr(self.inner, method)(*args, **kwargs)
        late = self.after_call_faults.get(method)
        if late:
            raise late.pop(0)  # the call reached the service, but its answer was lost
        return result

    def invoke(self, model_id, request):
        return self._call("invoke", model_id, request)

    def create_batch_job(self, **kwargs):
        return self._call("create_batch_job", **kwargs)

    def get_batch_job(self, job_id_or_arn):
        return self._call("get_batch_job", job_id_or_arn)

    def list_batch_jobs(self, **kwargs):
        return iter(list(self._call("list_batch_jobs", **kwargs)))

    def stop_batch_job(self, job_id_or_arn):
        return self._call("stop_batch_job", job_id_or_arn)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "LOCAL_BATCH_MIN_RECORDS": 1, "LOG_LEVEL": "warning", "BATCH_CHECK_INTERVAL": 0,
            "BATCH_POLLER_ENABLED": True}


@pytest.fixture
def faulty(app):
    """Wrap the app's store and backend with fault injectors (the poller uses them from now on)."""
    services = app.extensions["services"]
    engine = services.backend
    store = FaultyObjectStore(services.store)
    backend = FaultyBackend(engine)
    app.extensions["services"] = replace(services, store=store, backend=backend)
    app.extensions["batch_poller"].services = app.extensions["services"]
    return store, backend, engine


def submit_and_stage(app, client) -> dict:
    response = client.post("/api/batch/nova", json={"filter": {"media_type": "video"},
                                                    "analysis_types": ["combined"], "mode": "batch"})
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    wait_tasks(app, batch)
    return batch


def cycle(app) -> dict:
    # force: tests do not wait out the back-off that real cycles honour between retries
    return app.extensions["batch_poller"].run_once(force=True)


def chunk_of(conn, batch_id):
    return chunks_db.list_chunks(conn, batch_id)[0]


def assert_all_stored(client, conn, batch_id):
    body = client.get(f"/api/batch/{batch_id}").get_json()
    assert body["status"] == "COMPLETED", body
    stored = conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || analysis_type) FROM analysis_results"
                          " WHERE status = 'COMPLETED'").fetchone()
    assert tuple(stored) == (3, 3)


@pytest.mark.parametrize("kind", ["throttle", "server_error", "timeout"])
def test_transient_s3_faults_while_reading_results_are_retried(app, client, conn, faulty, kind):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    cycle(app)                      # submit
    engine.run_once()            # the job runs
    store.inject("list", kind, times=2)
    cycle(app)                      # refresh -> FETCHING; ingest meets the fault
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "FETCHING" and chunk["results_fetch_attempts"] == 1 and chunk["last_error"]
    cycle(app)                      # second fault
    assert chunk_of(conn, batch["id"])["results_fetch_attempts"] == 2
    cycle(app)                      # fault cleared
    assert_all_stored(client, conn, batch["id"])


def test_a_partial_listing_page_and_a_truncated_object_lose_nothing(app, client, conn, faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    cycle(app)
    engine.run_once()
    store.inject("list", "partial", after=1)   # only manifest.json.out comes back
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "FETCHING", "an incomplete listing must not fail the records"
    store.inject("open_read", "truncate", at=200)
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "FETCHING" and "stopped after" in (chunk["last_error"] or "")
    failed = conn.execute("SELECT COUNT(*) FROM analysis_results WHERE status = 'FAILED'").fetchone()[0]
    assert failed == 0
    cycle(app)
    assert_all_stored(client, conn, batch["id"])


def test_faults_beyond_the_retry_budget_end_in_result_fetch_failed_then_retry_fetch_completes(app, client, conn,
                                                                                              faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    cycle(app)
    engine.run_once()
    store.inject("list", "server_error", times=3)
    for _ in range(3):
        cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "RESULT_FETCH_FAILED" and chunk["last_error"]
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] != "COMPLETED"
    assert client.post(f"/api/batch/chunks/{chunk['id']}/retry-fetch", json={}).status_code == 200
    cycle(app)
    assert_all_stored(client, conn, batch["id"])


def test_bedrock_throttling_and_5xx_on_status_checks_are_retried(app, client, conn, faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    cycle(app)
    engine.run_once()
    backend.inject("get_batch_job", ThrottlingError("Rate exceeded", code="ThrottlingException"),
                   TransientServiceError("Internal error", code="InternalServerException"))
    cycle(app)
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "SUBMITTED" and "status check failed" in chunk["last_error"]
    cycle(app)
    assert_all_stored(client, conn, batch["id"])
    errors = client.get("/api/nova/batch/poller/status").get_json()
    assert errors["polls_count"] >= 4


def test_a_create_whose_answer_timed_out_is_healed_without_a_second_job(app, client, conn, faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    backend.inject("create_batch_job", TransientServiceError("read timed out", code="ReadTimeout"), after_call=True)
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "QUEUED" and chunk["job_arn"] is None and chunk["create_uncertain"] == 1
    cycle(app)  # looks the job up by name instead of creating another
    assert backend.calls["create_batch_job"] == 1
    engine.run_once()
    cycle(app)
    assert_all_stored(client, conn, batch["id"])
    assert conn.execute("SELECT COUNT(*) FROM local_batch_jobs").fetchone()[0] == 1


def test_a_job_the_service_no_longer_knows_fails_its_chunk_at_once_with_the_reason(app, client, conn, faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    cycle(app)
    backend.inject("get_batch_job", NotFoundError("job not found", code="ResourceNotFoundException"))
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "FAILED" and "not found" in chunk["failure_message"]
    runs = conn.execute("SELECT status, error_code FROM analysis_runs WHERE batch_id = ?", (batch["id"],)).fetchall()
    assert all(r["status"] == "FAILED" and r["error_code"] == "ResourceNotFoundException" for r in runs)
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "FAILED"
    status = client.get("/api/nova/batch/poller/status").get_json()
    assert status["jobs_failed"] == 1
    assert any(f"chunk {chunk['id']}" in e["message"] and "not found" in e["message"] for e in status["errors"])


def test_a_refused_create_is_counted_as_a_failed_job_and_reported(app, client, conn, faulty):
    store, backend, engine = faulty
    batch = submit_and_stage(app, client)
    backend.inject("create_batch_job", ValidationError("bad role", code="ValidationException"))
    cycle(app)
    chunk = chunk_of(conn, batch["id"])
    assert chunk["status"] == "FAILED"
    status = client.get("/api/nova/batch/poller/status").get_json()
    assert status["jobs_failed"] == 1
    assert any(f"chunk {chunk['id']}" in e["message"] and "bad role" in e["message"] for e in status["errors"])
