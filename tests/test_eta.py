"""Expected finish of running chunks: from the model's own history, else documented defaults, as a range."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import connect, migrate
from app.services.batch import eta, status
from app.utils.clock import iso, parse_iso

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
MODEL = "us.amazon.nova-lite-v1:0"


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "app.db")
    migrate(connection)
    yield connection
    connection.close()


def add_chunk(conn, batch_id: int, index: int, *, records: int, status_: str, model: str = MODEL,
              submitted: datetime | None = None, started: datetime | None = None,
              completed: datetime | None = None, processed: int | None = None,
              expires: datetime | None = None) -> int:
    chunk_id = chunks_db.insert_chunk(
        conn, batch_id=batch_id, chunk_index=index, total_chunks=99, model_id=model, job_name=f"n{batch_id}-{index}",
        client_token=f"t{batch_id}x{index}", staging_folder=f"nova_batch/job_{batch_id}_{index}/",
        manifest_key="m", output_prefix="o/", files_count=records, bytes_total=1, records_total=records,
        estimated_cost_usd=0, created_at=iso(NOW - timedelta(days=2)))
    chunks_db.update_chunk(conn, chunk_id, NOW, status=status_, submitted_at=iso(submitted) if submitted else None,
                           started_at=iso(started) if started else None,
                           completed_at=iso(completed) if completed else None, records_processed=processed,
                           expires_at=iso(expires) if expires else None)
    return chunk_id


def new_batch(conn, model: str = MODEL) -> int:
    return batches_db.insert_batch(conn, model_key="lite", model_id=model, mode="batch", analysis_types=["combined"],
                                   options={}, files_total=1, records_total=1, plan={}, estimated_cost_usd=0,
                                   created_at=iso(NOW - timedelta(days=2)))


def finished(conn, batch_id, index, *, queue_minutes: float, run_minutes: float, records: int = 120):
    submitted = NOW - timedelta(days=1)
    started = submitted + timedelta(minutes=queue_minutes)
    add_chunk(conn, batch_id, index, records=records, status_="COMPLETED", submitted=submitted, started=started,
              completed=started + timedelta(minutes=run_minutes))


def test_before_any_history_a_bedrock_chunk_gets_the_documented_turnaround(conn):
    batch_id = new_batch(conn)
    chunk_id = add_chunk(conn, batch_id, 0, records=150, status_="SUBMITTED", submitted=NOW)
    pace = eta.model_pace(conn, MODEL)
    assert pace is eta.BEDROCK_DEFAULT
    got = eta.chunk_eta(chunks_db.get_chunk(conn, chunk_id), pace, NOW)
    assert "no job of this model has finished here yet" in got["basis"]
    assert parse_iso(got["expected"]) == NOW + timedelta(hours=3, minutes=3)  # 3 h queue + 150 at 50 a minute
    assert parse_iso(got["earliest"]) < parse_iso(got["expected"]) < parse_iso(got["latest"])


def test_the_estimate_follows_the_models_own_finished_jobs(conn):
    batch_id = new_batch(conn)
    finished(conn, batch_id, 0, queue_minutes=10, run_minutes=2)   # 60 records a minute
    finished(conn, batch_id, 1, queue_minutes=20, run_minutes=4)   # 30 a minute
    finished(conn, batch_id, 2, queue_minutes=60, run_minutes=12)  # 10 a minute
    chunk_id = add_chunk(conn, batch_id, 3, records=60, status_="SUBMITTED", submitted=NOW)
    pace = eta.model_pace(conn, MODEL)
    assert pace.basis == "from 3 earlier jobs of this model"
    assert pace.queue_seconds == (600.0, 1200.0, 3600.0) and pace.records_per_minute == (60.0, 30.0, 10.0)
    got = eta.chunk_eta(chunks_db.get_chunk(conn, chunk_id), pace, NOW)
    assert parse_iso(got["earliest"]) == NOW + timedelta(minutes=10 + 1)
    assert parse_iso(got["expected"]) == NOW + timedelta(minutes=20 + 2)
    assert parse_iso(got["latest"]) == NOW + timedelta(minutes=60 + 6)


def test_a_running_chunk_counts_only_the_records_left_and_never_ends_after_its_expiry(conn):
    batch_id = new_batch(conn)
    finished(conn, batch_id, 0, queue_minutes=1, run_minutes=10, records=100)  # 10 a minute
    running = add_chunk(conn, batch_id, 1, records=100, status_="IN_PROGRESS", submitted=NOW - timedelta(hours=1),
                        started=NOW - timedelta(minutes=30), processed=70, expires=NOW + timedelta(hours=72))
    pace = eta.model_pace(conn, MODEL)
    got = eta.chunk_eta(chunks_db.get_chunk(conn, running), pace, NOW)
    assert parse_iso(got["expected"]) == NOW + timedelta(minutes=3)  # 30 left at 10 a minute
    soon = add_chunk(conn, batch_id, 2, records=1000, status_="IN_PROGRESS", submitted=NOW - timedelta(hours=1),
                     processed=0, expires=NOW + timedelta(minutes=5))
    capped = eta.chunk_eta(chunks_db.get_chunk(conn, soon), pace, NOW)
    assert parse_iso(capped["latest"]) == NOW + timedelta(minutes=5)


def test_chunks_that_are_not_running_have_no_eta_and_a_submission_ends_with_its_last_chunk(conn):
    batch_id = new_batch(conn)
    add_chunk(conn, batch_id, 0, records=10, status_="COMPLETED", submitted=NOW, completed=NOW)
    add_chunk(conn, batch_id, 1, records=10, status_="SUBMITTED", submitted=NOW)
    add_chunk(conn, batch_id, 2, records=500, status_="SUBMITTED", submitted=NOW)
    etas = status.chunk_etas(conn, chunks_db.list_chunks(conn, batch_id), NOW)
    assert etas[0] is None and etas[1] and etas[2]
    whole = eta.submission_eta(etas)
    assert whole["latest"] == etas[2]["latest"] and whole["expected"] == etas[2]["expected"]
    body = status.batch_to_dict(conn, batch_id)
    assert body["eta"] is not None and body["chunks"][2]["eta"]["basis"]
    assert body["chunks"][0]["eta"] is None and body["chunks"][1]["progress_percent"] is None


def test_the_local_engine_has_its_own_default_pace(conn):
    assert eta.model_pace(conn, "local-analyzer") is eta.LOCAL_DEFAULT


def test_the_api_and_the_cli_show_a_running_submissions_expected_finish(app, client, runner):
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        batch_id = new_batch(conn)
        batches_db.update_batch(conn, batch_id, status="RUNNING")
        add_chunk(conn, batch_id, 0, records=150, status_="IN_PROGRESS", submitted=NOW, processed=50)
    finally:
        conn.close()
    body = client.get(f"/api/batch/{batch_id}").get_json()
    chunk = body["chunks"][0]
    assert chunk["progress_percent"] == 33.3 and chunk["eta"]["basis"] == eta.BEDROCK_DEFAULT.basis
    assert body["eta"]["latest"] == chunk["eta"]["latest"]
    listed = client.get("/api/batch").get_json()["items"][0]
    assert listed["eta"]["basis"] == body["eta"]["basis"] and listed["eta"]["latest"] >= body["eta"]["expected"]
    shown = runner.invoke(args=["batch", "show", str(batch_id)])
    assert shown.exit_code == 0 and "33.3% done, expected" in shown.output and "finish expected" in shown.output
    listing = runner.invoke(args=["batch", "list"])
    assert "expected" in listing.output
