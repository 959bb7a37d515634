"""Planning and submission rows without media: chunk splits, folders, names and the batch minimum."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest

from app.config import load_settings
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import connect
from app.db import tasks as tasks_db
from app.db.migrator import migrate
from app.errors import Unprocessable
from app.inference.base import validate_batch_s3_uri, validate_client_token, validate_job_name
from app.nova.catalog import load_catalog
from app.services.context import Services
from app.services.batch.submission import submit_plan
from app.services.planning import plan_analysis
from app.storage import LocalObjectStore
from app.services.signals import Signals
from app.services.tasks import TaskRunner

NOW = datetime(2026, 11, 25, 15, 30, 0, tzinfo=timezone.utc)


def video_row(file_id: int, *, proxy_bytes: int = 1_000_000, duration: float = 60.0) -> dict:
    return {"id": file_id, "name": f"clip {file_id}.mp4", "media_type": "video", "status": "ready", "error": None,
            "duration_seconds": duration, "width": 1280, "height": 720, "proxy_size_bytes": proxy_bytes}


def settings_for(tmp_path, **overrides):
    return load_settings(environ={}, overrides={"DATA_DIR": str(tmp_path), "TESTING": True, **overrides})


@pytest.fixture
def catalog():
    return load_catalog()


def test_301_files_split_into_150_150_1(tmp_path, catalog):
    settings = settings_for(tmp_path, LOCAL_BATCH_MIN_RECORDS=1)
    plan = plan_analysis([video_row(i) for i in range(1, 302)], model=catalog.get("local-analyzer"),
                         requested_types=["combined"], options={}, mode="batch", settings=settings)
    assert [len(c.file_ids) for c in plan.chunks] == [150, 150, 1]
    assert [c.route for c in plan.chunks] == ["batch"] * 3
    assert plan.chunks[0].file_ids == list(range(1, 151))  # stable order
    assert plan.chunks[2].file_ids == [301]


def test_in_auto_mode_the_chunk_below_the_minimum_runs_on_demand_with_both_prices(tmp_path, catalog):
    settings = settings_for(tmp_path, INFERENCE_BACKEND="bedrock", STORAGE_BACKEND="s3", BATCH_MIN_RECORDS=100)
    plan = plan_analysis([video_row(i) for i in range(1, 302)], model=catalog.get("lite"),
                         requested_types=["combined"], options={}, mode="auto", settings=settings)
    assert [(len(c.file_ids), c.route) for c in plan.chunks] == [(150, "batch"), (150, "batch"), (1, "on_demand")]
    assert "below the batch minimum of 100" in plan.chunks[2].reason
    assert "on demand" in plan.chunks[2].reason and "as batch" in plan.chunks[2].reason
    assert len(plan.on_demand_files) == 1 and plan.on_demand_files[0].file_id == 301


def test_in_batch_mode_a_chunk_below_the_minimum_is_a_422_naming_minimum_and_count(tmp_path, catalog):
    settings = settings_for(tmp_path, INFERENCE_BACKEND="bedrock", STORAGE_BACKEND="s3", BATCH_MIN_RECORDS=100)
    with pytest.raises(Unprocessable) as info:
        plan_analysis([video_row(i) for i in range(1, 302)], model=catalog.get("lite"),
                      requested_types=["combined"], options={}, mode="batch", settings=settings)
    assert info.value.details["minimum"] == 100 and info.value.details["records"] == 1
    assert "100" in info.value.message and "1 records" in info.value.message


def test_byte_limit_closes_chunks_and_an_oversized_file_is_rejected(tmp_path, catalog):
    settings = settings_for(tmp_path, BATCH_MAX_BYTES=10_000_000)
    rows = [video_row(1, proxy_bytes=6_000_000), video_row(2, proxy_bytes=5_000_000),
            video_row(3, proxy_bytes=4_000_000), video_row(4, proxy_bytes=11_000_000)]
    plan = plan_analysis(rows, model=catalog.get("local-analyzer"), requested_types=["summary", "chapters"],
                         options={}, mode="auto", settings=settings)
    assert [c.file_ids for c in plan.chunks] == [[1], [2, 3]]
    assert all(c.bytes <= 10_000_000 for c in plan.chunks)
    assert [c.records for c in plan.chunks] == [2, 4]  # files x requested types
    assert plan.rejected_files[0].file_id == 4 and "BATCH_MAX_BYTES" in plan.rejected_files[0].reason


def test_types_by_file_narrows_a_retry_to_what_failed(tmp_path, catalog):
    settings = settings_for(tmp_path)
    plan = plan_analysis([video_row(1), video_row(2)], model=catalog.get("local-analyzer"),
                         requested_types=["summary", "chapters"], options={}, mode="auto", settings=settings,
                         types_by_file={2: ["chapters"]})
    assert {f.file_id: f.types for f in plan.files} == {1: ["summary", "chapters"], 2: ["chapters"]}
    assert plan.chunks[0].records == 3


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "app.db")
    migrate(connection)
    yield connection
    connection.close()


def insert_videos(conn: sqlite3.Connection, count: int) -> list:
    from app.db import files as files_db

    for i in range(1, count + 1):
        files_db.insert_file(conn, {"path": f"/lib/clip {i}.mp4", "folder": "/lib", "name": f"clip {i}.mp4",
                                    "size_bytes": 1000, "mtime": 0, "fingerprint": f"fp{i}", "media_type": "video",
                                    "duration_seconds": 30.0, "width": 640, "height": 360, "status": "ready"})
    return files_db.get_files(conn, range(1, count + 1))


def services_for(tmp_path, catalog, **overrides) -> Services:
    settings = settings_for(tmp_path, **overrides)
    store = LocalObjectStore(tmp_path / "objects", settings.S3_BUCKET_NAME)
    tasks = TaskRunner(settings.DATABASE_PATH)  # never started: tasks are only recorded
    for kind in ("batch_stage", "analyze"):
        tasks.register(kind, lambda ctx, params: None)
    return Services(settings=settings, store=store, backend=None, catalog=catalog, tasks=tasks,
                    signals=Signals(settings.DATABASE_PATH))


def test_a_301_file_submission_records_three_chunks_with_valid_names_and_folders(tmp_path, catalog, conn):
    services = services_for(tmp_path, catalog, LOCAL_BATCH_MIN_RECORDS=1)
    rows = insert_videos(conn, 301)
    batch = submit_plan(conn, services, rows=rows, model=catalog.get("local-analyzer"), types=["combined"],
                        options={}, mode="batch", now=NOW)
    assert [c["files"] for c in batch["chunks"]] == [150, 150, 1]
    assert [c["status"] for c in batch["chunks"]] == ["STAGING"] * 3
    assert [c["staging_folder"] for c in batch["chunks"]] == [
        f"nova_batch/job_20261125_153000_{n:03d}/" for n in (1, 2, 3)]
    recorded = [(t["kind"], json.loads(t["params"])) for t in tasks_db.list_tasks(conn)]
    assert recorded == [("batch_stage", {"batch_id": batch["id"]})]
    assert batch["stage_task_id"] == tasks_db.list_tasks(conn)[0]["id"]
    for chunk in chunks_db.list_chunks(conn, batch["id"]):
        validate_job_name(chunk["job_name"])
        validate_client_token(chunk["client_token"])
        validate_batch_s3_uri(f"s3://{services.store.bucket}/{chunk['staging_folder']}")
        validate_batch_s3_uri(f"s3://{services.store.bucket}/{chunk['output_prefix']}")
        assert chunk["manifest_key"] == chunk["staging_folder"] + "manifest.jsonl"
    record_ids = [r[0] for r in conn.execute("SELECT record_id FROM analysis_results")]
    assert len(record_ids) == len(set(record_ids)) == 301
    per_chunk = conn.execute("SELECT chunk_id, COUNT(*) FROM analysis_runs GROUP BY chunk_id").fetchall()
    assert sorted(n for _, n in per_chunk) == [1, 150, 150]


def test_two_submissions_in_the_same_second_get_distinct_folders_names_and_tokens(tmp_path, catalog, conn):
    services = services_for(tmp_path, catalog, LOCAL_BATCH_MIN_RECORDS=1, BATCH_MAX_FILES=2)
    rows = insert_videos(conn, 3)
    model = catalog.get("local-analyzer")
    first = submit_plan(conn, services, rows=rows, model=model, types=["combined"], options={},
                        mode="batch", now=NOW)
    second = submit_plan(conn, services, rows=rows, model=model, types=["combined"], options={},
                         mode="batch", now=NOW)
    chunks = first["chunks"] + second["chunks"]
    folders = [c["staging_folder"] for c in chunks]
    assert folders == [f"nova_batch/job_20261125_153000_{n:03d}/" for n in (1, 2, 3, 4)]
    assert len({c["job_name"] for c in chunks}) == 4
    tokens = [r[0] for r in conn.execute("SELECT client_token FROM chunks")]
    assert len(set(tokens)) == 4


def test_everything_rejected_is_a_422(tmp_path, catalog, conn):
    services = services_for(tmp_path, catalog)
    rows = insert_videos(conn, 1)
    conn.execute("UPDATE files SET status = 'failed', error = 'unreadable'")
    from app.db import files as files_db

    with pytest.raises(Unprocessable) as info:
        submit_plan(conn, services, rows=files_db.get_files(conn, [1]),
                    model=catalog.get("local-analyzer"), types=["combined"], options={}, mode="auto", now=NOW)
    assert info.value.code == "nothing_to_analyze"
    assert rows  # the file exists; it was rejected, not missing
