"""End-to-end submissions through the local batch engine over the sample media (no sleeps, no threads
except the job runner's): staging, crash-safe submit, tracking, ingestion and the submission's status."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import timedelta

import pytest

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.inference.base import ThrottlingError, validate_batch_s3_uri
from app.services.batch import ingest, submit
from app.utils.clock import utc
from app.services.batch.ingest import ingest_chunk
from app.services.batch.process import process_batches_once
from app.services.batch.tracking import refresh_active_chunks
from app.storage import FaultyObjectStore
from batch_support import conn, data_dir, results_by_file, seeded_template, settle, wait_tasks  # noqa: F401
from conftest import SAMPLE_MEDIA
from helpers import import_folder

VIDEOS = {"car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "LOCAL_BATCH_MIN_RECORDS": 1, "LOG_LEVEL": "warning"}


@pytest.fixture
def services(app):
    return app.extensions["services"]


def submit_videos(client, **extra) -> dict:
    body = {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "batch", **extra}
    response = client.post("/api/batch/nova", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def staged(app, client, **extra) -> dict:
    batch = submit_videos(client, **extra)
    wait_tasks(app, batch)
    return batch


def finished_job(app, client, conn, services) -> dict:
    """A staged submission whose one batch job has finished: its chunk is FETCHING, the output unread."""
    batch = staged(app, client)
    process_batches_once(conn, services, force=True)
    services.backend.run_once()
    refresh_active_chunks(conn, services, utc(), force=True)
    return batch


def only_chunk(conn, batch_id: int):
    chunks = chunks_db.list_chunks(conn, batch_id)
    assert len(chunks) == 1
    return chunks[0]


def output_file_key(services, chunk) -> str:
    keys = [o.key for o in services.store.list(f"{chunk['output_prefix']}{chunk['job_id']}/")
            if o.key.endswith(".jsonl.out")]
    assert len(keys) == 1, keys
    return keys[0]


def read_lines(services, key: str) -> list[bytes]:
    with services.store.open_read(key) as stream:
        return [line for line in stream if line.strip()]


def test_auto_submission_runs_videos_as_a_batch_job_and_images_on_demand(app, client, conn, services):
    response = client.post("/api/batch/nova", json={"filter": {}, "analysis_types": ["combined"], "mode": "auto"})
    assert response.status_code == 201
    batch = response.get_json()
    assert batch["plan"]["batch_files"] == 3 and batch["plan"]["on_demand_files"] == 4
    assert set(batch["estimate"]) >= {"batch", "on_demand", "total_cost_usd"}
    assert [c["status"] for c in batch["chunks"]] == ["STAGING"]
    # Every file left "not analysed" at once (the images' on-demand job may already have finished some).
    assert client.get("/api/files?analysis=none").get_json()["summary"]["count"] == 0
    wait_tasks(app, batch)

    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "QUEUED" and chunk["records_total"] == 3
    staged_keys = [o.key for o in services.store.list(chunk["staging_folder"])]
    media_keys = [k for k in staged_keys if k.startswith(chunk["staging_folder"] + "files/")]
    assert len(media_keys) == 3 and chunk["manifest_key"] in staged_keys
    assert all(services.store.head(k).content_type == "video/mp4" for k in media_keys)
    with services.store.open_read(chunk["manifest_key"]) as stream:
        records = [json.loads(line) for line in stream]
    assert len(records) == 3
    for record in records:
        uri = record["modelInput"]["messages"][0]["content"][0]["video"]["source"]["s3Location"]["uri"]
        assert services.store.key_from_uri(uri) in media_keys
        assert "Task: combined" in record["modelInput"]["messages"][0]["content"][1]["text"]
        assert "- name: " in record["modelInput"]["messages"][0]["content"][1]["text"]

    settle(app, conn, batch["id"])
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "COMPLETED"
    assert shown["records"] == {"completed": 3 + 4 * 4, "failed": 0, "pending": 0}
    assert shown["chunks"][0]["status"] == "COMPLETED" and shown["chunks"][0]["provider_status"] == "Completed"
    assert shown["chunks"][0]["records_succeeded"] == 3 and shown["chunks"][0]["ingest_stats"]["files"] == 1
    assert {f["status"] for f in shown["files"]} == {"COMPLETED"}
    assert set(shown) >= {"id", "status", "model", "mode", "analysis_types", "created_at", "files_total",
                          "records_total", "cost", "chunks", "on_demand", "files"}
    assert set(shown["chunks"][0]) >= {
        "id", "index", "status", "provider_status", "job_id", "job_name", "staging_folder", "records_total",
        "records_processed", "records_succeeded", "records_failed", "estimated_cost_usd", "actual_cost_usd",
        "submitted_at", "completed_at", "expires_at", "last_error"}
    assert client.get("/api/files?analysis=completed").get_json()["summary"]["count"] == 7
    run = conn.execute("SELECT * FROM analysis_runs WHERE mode = 'batch' LIMIT 1").fetchone()
    results = json.loads(conn.execute("SELECT result FROM analysis_results WHERE run_id = ?",
                                      (run["id"],)).fetchone()[0])
    assert set(results) == {"summary", "chapters", "elements", "waterfall_classification", "search_metadata"}


def test_a_finished_job_is_fetching_not_completed_until_ingestion_stored_every_record(app, client, conn, services):
    batch = finished_job(app, client, conn, services)
    chunk = only_chunk(conn, batch["id"])
    assert (chunk["status"], chunk["provider_status"]) == ("FETCHING", "Completed")
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "RUNNING"
    assert client.get("/api/files?analysis=completed").get_json()["summary"]["count"] == 0

    seen_statuses = []
    real_store = ingest.store_model_output

    def watching(conn_, run, *args, **kwargs):
        seen_statuses.append(chunks_db.get_chunk(conn_, run["chunk_id"])["status"])
        return real_store(conn_, run, *args, **kwargs)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(ingest, "store_model_output", watching)
    try:
        outcome = ingest_chunk(conn, services, chunk["id"])
    finally:
        monkeypatch.undo()
    assert seen_statuses == ["FETCHING"] * 3
    assert outcome["status"] == "COMPLETED"


def test_an_interrupted_read_keeps_the_chunk_fetching_with_what_was_stored(app, client, conn, services, monkeypatch):
    batch = finished_job(app, client, conn, services)
    chunk = only_chunk(conn, batch["id"])
    key = output_file_key(services, chunk)
    first_line = len(read_lines(services, key)[0])
    faulty = FaultyObjectStore(services.store)
    faulty.inject("open_read", "truncate", at=first_line + 10)
    monkeypatch.setattr(ingest, "LINES_PER_TRANSACTION", 1)

    outcome = ingest_chunk(conn, replace(services, store=faulty), chunk["id"])

    assert outcome["outcome"] == "retrying"
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert chunk["status"] == "FETCHING" and chunk["results_fetch_attempts"] == 1
    assert "stopped after" in chunk["last_error"] and chunk["claimed_by"] is None
    statuses = [r[0] for r in conn.execute(
        "SELECT res.status FROM analysis_results res JOIN analysis_runs r ON r.id = res.run_id WHERE r.chunk_id = ?",
        (chunk["id"],))]
    assert sorted(statuses) == ["COMPLETED", "PENDING", "PENDING"]
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "RUNNING"

    later = utc() + timedelta(hours=1)
    process_batches_once(conn, services, now=later)
    assert chunks_db.get_chunk(conn, chunk["id"])["status"] == "COMPLETED"
    assert batches_db.get_batch(conn, batch["id"])["status"] == "COMPLETED"


def test_repeated_storage_faults_end_in_result_fetch_failed(app, client, conn, services):
    batch = finished_job(app, client, conn, services)
    faulty = FaultyObjectStore(services.store)
    faulty.inject("list", "throttle", times=3)
    broken = replace(services, store=faulty)
    outcomes = [process_batches_once(conn, broken, force=True)["ingest"] for _ in range(3)]
    assert [o.get("retrying", 0) for o in outcomes] == [1, 1, 0] and outcomes[2]["fetch_failed"] == 1
    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "RESULT_FETCH_FAILED" and chunk["results_fetch_attempts"] == 3
    assert {s for _, s, code in sum(results_by_file(conn, batch["id"]).values(), [])} == {"FAILED"}
    assert batches_db.get_batch(conn, batch["id"])["status"] == "FAILED"


def test_error_lines_fail_only_their_file_and_the_job_is_partially_completed(app, client, conn, services):
    batch = staged(app, client)
    process_batches_once(conn, services, force=True)
    chunk = only_chunk(conn, batch["id"])
    victim = next(o.key for o in services.store.list(chunk["staging_folder"] + "files/") if "car" in o.key)
    services.store.delete_many([victim])  # the engine now answers that record with an error line
    services.backend.run_once()
    process_batches_once(conn, services, force=True)

    chunk = only_chunk(conn, batch["id"])
    assert (chunk["provider_status"], chunk["status"]) == ("PartiallyCompleted", "PARTIAL")
    assert (chunk["records_succeeded"], chunk["records_failed"]) == (2, 1)
    results = results_by_file(conn, batch["id"])
    assert results["car-detection.mp4"] == [("combined", "FAILED", "400")]
    assert all(r == [("combined", "COMPLETED", None)] for n, r in results.items() if n != "car-detection.mp4")
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "PARTIAL"
    car = next(f for f in shown["files"] if f["name"] == "car-detection.mp4")
    assert car["status"] == "FAILED" and "media_not_found" in car["error"]
    completed = client.get("/api/files?analysis=completed&media_type=video").get_json()["items"]
    assert {item["name"] for item in completed} == VIDEOS - {"car-detection.mp4"}
    failed = client.get("/api/files?analysis=failed").get_json()["items"]
    assert [item["name"] for item in failed] == ["car-detection.mp4"]

    retry = client.post(f"/api/batch/{batch['id']}/retry-failed", json={})
    assert retry.status_code == 201
    retried = retry.get_json()
    assert retried["retry_of"] == batch["id"] and retried["records_total"] == 1
    assert [f["name"] for f in retried["files"]] == ["car-detection.mp4"]
    wait_tasks(app, retried)
    settle(app, conn, retried["id"])
    assert client.get(f"/api/batch/{retried['id']}").get_json()["status"] == "COMPLETED"
    assert client.get("/api/files?analysis=completed&media_type=video").get_json()["summary"]["count"] == 3


def test_missing_records_and_a_truncated_output_file_fail_only_those_records(app, client, conn, services):
    batch = finished_job(app, client, conn, services)
    chunk = only_chunk(conn, batch["id"])
    key = output_file_key(services, chunk)
    lines = read_lines(services, key)
    by_name = {}
    run_files = {r["id"]: r["name"] for r in conn.execute(
        "SELECT r.id, f.name FROM analysis_runs r JOIN files f ON f.id = r.file_id WHERE r.chunk_id = ?",
        (chunk["id"],))}
    from app.db.analysis import parse_record_id

    for line in lines:
        by_name[run_files[parse_record_id(json.loads(line)["recordId"])[0]]] = line
    kept = by_name["bottle-detection.mp4"]
    cut = by_name["one-by-one-person-detection.mp4"][:300]  # the file ends mid-line
    services.store.put_bytes(key, kept + cut)

    process_batches_once(conn, services, force=True)

    results = results_by_file(conn, batch["id"])
    assert results["bottle-detection.mp4"] == [("combined", "COMPLETED", None)]
    assert results["car-detection.mp4"] == [("combined", "FAILED", "missing_output")]
    assert results["one-by-one-person-detection.mp4"] == [("combined", "FAILED", "unparsable_output")]
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert chunk["status"] == "PARTIAL"
    stats = json.loads(chunk["ingest_stats"])
    assert stats["unparsable_lines"] == 1 and stats["missing_records"] == 1 and stats["stored"] == 1
    assert stats["manifest_mismatches"]["processedRecordCount"] == {"manifest": 3, "output": 2}
    assert json.loads(chunk["manifest_totals"])["totalRecordCount"] == 3
    assert batches_db.get_batch(conn, batch["id"])["status"] == "PARTIAL"


def test_unknown_and_duplicate_record_ids_are_counted_not_fatal(app, client, conn, services):
    batch = finished_job(app, client, conn, services)
    chunk = only_chunk(conn, batch["id"])
    key = output_file_key(services, chunk)
    lines = read_lines(services, key)
    stranger = json.dumps({"recordId": "X00000ZZZZZ", "modelOutput": {}}).encode() + b"\n"
    alien = json.dumps({"recordId": "not-ours", "modelOutput": {}}).encode() + b"\n"
    cut_copy = lines[0][:200] + b"\n"  # a broken copy before the complete line must not fail the record
    services.store.put_bytes(key, b"".join([cut_copy] + lines + [lines[0], stranger, alien, b"\n"]))

    outcome = ingest_chunk(conn, services, chunk["id"])

    assert outcome["status"] == "COMPLETED"
    assert outcome["stats"]["duplicate_records"] == 1 and outcome["stats"]["unknown_records"] == 2
    assert outcome["stats"]["stored"] == 3 and outcome["stats"]["blank_lines"] == 1
    assert outcome["stats"]["unparsable_lines"] == 1


def test_ingesting_the_same_output_twice_leaves_the_same_rows(app, client, conn, services):
    batch = staged(app, client)
    settle(app, conn, batch["id"])
    chunk = only_chunk(conn, batch["id"])

    def snapshot():
        results = conn.execute("SELECT * FROM analysis_results ORDER BY run_id, analysis_type").fetchall()
        runs = conn.execute("SELECT id, status, tokens_input, tokens_output, cost_usd, completed_at"
                            " FROM analysis_runs ORDER BY id").fetchall()
        return [tuple(r) for r in results], [tuple(r) for r in runs]

    before = snapshot()
    conn.execute("UPDATE chunks SET status = 'FETCHING' WHERE id = ?", (chunk["id"],))
    outcome = ingest_chunk(conn, services, chunk["id"])
    assert outcome["status"] == "COMPLETED"
    assert outcome["stats"]["already_stored"] == 3 and outcome["stats"]["stored"] == 0
    assert snapshot() == before


def test_a_crash_between_create_and_recording_the_arn_is_healed_by_lookup(app, client, conn, services, monkeypatch):
    batch = staged(app, client)
    real_record = submit.record_submission
    calls = {"create": 0}
    real_create = services.backend.create_batch_job

    def counting_create(**kwargs):
        calls["create"] += 1
        return real_create(**kwargs)

    def crash(*args, **kwargs):
        raise RuntimeError("process died after CreateModelInvocationJob returned")

    monkeypatch.setattr(services.backend, "create_batch_job", counting_create)
    monkeypatch.setattr(submit, "record_submission", crash)
    first = process_batches_once(conn, services, force=True)
    assert first["submit"]["deferred"] == 1
    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "QUEUED" and chunk["create_uncertain"] == 1 and chunk["job_arn"] is None
    assert "process died" in chunk["last_error"]

    monkeypatch.setattr(submit, "record_submission", real_record)
    second = process_batches_once(conn, services, force=True)
    assert second["submit"]["healed"] == 1
    assert calls["create"] == 1
    assert conn.execute("SELECT COUNT(*) FROM local_batch_jobs").fetchone()[0] == 1
    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "SUBMITTED" and chunk["job_arn"] and chunk["create_uncertain"] == 0
    settle(app, conn, batch["id"])
    assert batches_db.get_batch(conn, batch["id"])["status"] == "COMPLETED"


def test_throttling_on_create_keeps_the_chunk_queued_then_it_is_submitted(app, client, conn, services, monkeypatch):
    batch = staged(app, client)
    real_create = services.backend.create_batch_job
    calls = {"create": 0}

    def throttled_once(**kwargs):
        calls["create"] += 1
        if calls["create"] == 1:
            raise ThrottlingError("CreateModelInvocationJob failed: Rate exceeded", http_status=429)
        return real_create(**kwargs)

    monkeypatch.setattr(services.backend, "create_batch_job", throttled_once)
    now = utc()
    assert process_batches_once(conn, services, now=now)["submit"]["deferred"] == 1
    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "QUEUED" and chunk["create_uncertain"] == 0
    assert "Rate exceeded" in chunk["last_error"] and chunk["next_attempt_at"] > now.isoformat()

    assert process_batches_once(conn, services, now=now + timedelta(seconds=5))["submit"]["submitted"] == 0
    assert process_batches_once(conn, services, now=now + timedelta(minutes=5))["submit"]["submitted"] == 1
    assert only_chunk(conn, batch["id"])["status"] == "SUBMITTED"
    assert calls["create"] == 2
    settle(app, conn, batch["id"])
    assert batches_db.get_batch(conn, batch["id"])["status"] == "COMPLETED"


def test_a_refused_chunk_fails_alone_and_the_others_still_run(app, client, conn, services, monkeypatch):
    from app.inference.base import ValidationError

    settings = replace(services.settings, BATCH_MAX_FILES=1)  # one chunk per video
    narrow = replace(services, settings=settings)
    from app.services.batch.submission import create_submission

    batch = create_submission(conn, narrow,
                              {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "batch"})
    wait_tasks(app, batch)
    assert len(batch["chunks"]) == 3
    real_create = services.backend.create_batch_job
    refused = batch["chunks"][1]["job_name"]

    def refuse_one(**kwargs):
        if kwargs["name"] == refused:
            raise ValidationError("CreateModelInvocationJob failed: bad input", http_status=400)
        return real_create(**kwargs)

    monkeypatch.setattr(services.backend, "create_batch_job", refuse_one)
    settle(app, conn, batch["id"])
    statuses = [c["status"] for c in chunks_db.list_chunks(conn, batch["id"])]
    assert statuses == ["COMPLETED", "FAILED", "COMPLETED"]
    failed = chunks_db.list_chunks(conn, batch["id"])[1]
    assert "bad input" in failed["failure_message"]
    assert batches_db.get_batch(conn, batch["id"])["status"] == "PARTIAL"


def test_no_more_than_the_concurrent_job_limit_run_at_once(app, client, conn, services):
    settings = replace(services.settings, BATCH_MAX_FILES=1, BATCH_MAX_CONCURRENT_JOBS=1)
    narrow = replace(services, settings=settings)
    from app.services.batch.submission import create_submission

    batch = create_submission(conn, narrow,
                              {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "batch"})
    wait_tasks(app, batch)
    first = process_batches_once(conn, narrow, force=True)
    assert first["submit"]["submitted"] == 1 and first["submit"]["waiting_for_slot"] == 2
    assert [c["status"] for c in chunks_db.list_chunks(conn, batch["id"])] == ["SUBMITTED", "QUEUED", "QUEUED"]
    seen_running = []
    for _ in range(8):
        narrow.backend.run_once()
        process_batches_once(conn, narrow, force=True)
        chunks = chunks_db.list_chunks(conn, batch["id"])
        seen_running.append(sum(c["status"] in ("SUBMITTED", "IN_PROGRESS") for c in chunks))
        if all(c["status"] == "COMPLETED" for c in chunks):
            break
    assert max(seen_running) <= 1
    assert [c["status"] for c in chunks_db.list_chunks(conn, batch["id"])] == ["COMPLETED"] * 3


def test_hostile_file_names_stage_under_safe_keys_and_complete(app, client, conn, services, library_root):
    folder = library_root / "hostile"
    folder.mkdir()
    names = ["My Video, (final) #1 100% + extra = @home 'q' \"dq\" 🎬 日本.mp4", "Ünïcödé   spaces;&.mp4"]
    for name in names:
        shutil.copy2(SAMPLE_MEDIA / "bottle-detection.mp4", folder / name)
    import_folder(client, folder, generate_proxies=False)
    batch = submit_videos(client, filter={"directory": str(folder)})
    wait_tasks(app, batch)
    chunk = only_chunk(conn, batch["id"])
    keys = [o.key for o in services.store.list(chunk["staging_folder"] + "files/")]
    assert len(keys) == 2
    for key in keys:
        safe_name = key.rsplit("/", 1)[1]
        assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in safe_name), safe_name
        validate_batch_s3_uri(services.store.uri(key))
    validate_batch_s3_uri(f"s3://{services.store.bucket}/{chunk['staging_folder']}")
    validate_batch_s3_uri(f"s3://{services.store.bucket}/{chunk['output_prefix']}")
    settle(app, conn, batch["id"])
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "COMPLETED"
    assert sorted(f["name"] for f in shown["files"]) == sorted(names)


def test_a_staged_object_that_went_missing_is_uploaded_again(app, client, conn, services, monkeypatch):
    lost = []
    real_put = type(services.store).put_file

    def losing_put(store, key, path, content_type=None):
        if "/files/" in key and "car" in key and not lost:
            lost.append(key)  # the first upload of this object silently never lands
            return None
        return real_put(store, key, path, content_type)

    monkeypatch.setattr(type(services.store), "put_file", losing_put)
    proxy = conn.execute("SELECT d.path FROM derivatives d JOIN files f ON f.id = d.file_id"
                         " WHERE f.name = 'bottle-detection.mp4' AND d.kind = 'proxy'").fetchone()[0]
    (app.config["SETTINGS"].DATA_DIR / proxy).unlink()  # a proxy missing on disk is made again
    batch = staged(app, client)
    chunk = only_chunk(conn, batch["id"])
    assert chunk["status"] == "QUEUED" and chunk["files_count"] == 3
    assert lost and services.store.exists(lost[0])
    assert (app.config["SETTINGS"].DATA_DIR / proxy).exists()
    settle(app, conn, batch["id"])
    assert batches_db.get_batch(conn, batch["id"])["status"] == "COMPLETED"


def test_cancel_stops_running_jobs_and_stores_what_was_produced(app, client, conn, services):
    batch = staged(app, client)
    process_batches_once(conn, services, force=True)
    response = client.post(f"/api/batch/{batch['id']}/cancel", json={})
    assert response.status_code == 200
    assert response.get_json()["cancel_requested"] is True
    services.backend.run_once()
    process_batches_once(conn, services, force=True)
    chunk = only_chunk(conn, batch["id"])
    assert chunk["provider_status"] == "Stopped"
    assert chunk["status"] == "FAILED" and chunk["results_fetched_at"] is not None
    codes = {code for r in results_by_file(conn, batch["id"]).values() for _, _, code in r}
    assert codes == {"batch_job_stopped"}
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "CANCELLED"
    assert client.post(f"/api/batch/{batch['id']}/cancel", json={}).status_code == 409


def test_cancel_before_submission_cancels_queued_chunks(app, client, conn, services):
    batch = staged(app, client)
    client.post(f"/api/batch/{batch['id']}/cancel", json={})
    assert only_chunk(conn, batch["id"])["status"] == "CANCELLED"
    assert process_batches_once(conn, services, force=True)["submit"]["submitted"] == 0
    assert conn.execute("SELECT COUNT(*) FROM local_batch_jobs").fetchone()[0] == 0
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "CANCELLED"
    assert client.get("/api/files?analysis=failed").get_json()["summary"]["count"] == 3


def test_batch_mode_below_the_minimum_is_refused_with_422(app, client, conn, services):
    narrow = replace(services, settings=replace(services.settings, LOCAL_BATCH_MIN_RECORDS=100))
    from app.errors import Unprocessable
    from app.services.batch.submission import create_submission

    with pytest.raises(Unprocessable) as info:
        create_submission(conn, narrow,
                          {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "batch"})
    assert info.value.details == {"minimum": 100, "records": 3, "chunk": 0}
    assert batches_db.count_batches(conn) == 0


def test_the_list_shows_submissions_newest_first_with_counts(app, client, conn):
    first = submit_videos(client)
    second = client.post("/api/batch/nova", json={"filter": {"media_type": "image"}, "mode": "on_demand"}).get_json()
    wait_tasks(app, first)
    wait_tasks(app, second)
    listing = client.get("/api/batch").get_json()
    assert [item["id"] for item in listing["items"]] == [second["id"], first["id"]]
    assert listing["items"][1]["chunks_total"] == 1 and listing["items"][1]["files_total"] == 3
    assert listing["items"][0]["runs_total"] == 4
    assert client.get("/api/batch/9999").status_code == 404


def test_cli_analyze_wait_and_batch_commands(app, runner, conn):
    result = runner.invoke(args=["analyze", "--media-type", "video", "--types", "combined", "--mode", "batch",
                                 "--wait", "--interval", "0.01", "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert "Submitted batch 1" in result.output and "COMPLETED" in result.output
    listing = runner.invoke(args=["batch", "list"])
    assert listing.exit_code == 0 and "COMPLETED" in listing.output
    shown = runner.invoke(args=["batch", "show", "1", "--json"])
    assert json.loads(shown.output)["records"]["completed"] == 3
    assert runner.invoke(args=["batch", "retry-failed", "1"]).exit_code == 1
    assert runner.invoke(args=["batch", "cancel", "1"]).exit_code == 1


def test_a_proxy_already_in_the_bucket_is_copied_server_side(app, client, conn, services, monkeypatch):
    from app.services.batch.staging import canonical_proxy_key

    row = conn.execute("SELECT f.*, d.path AS proxy FROM files f JOIN derivatives d ON d.file_id = f.id"
                       " AND d.kind = 'proxy' WHERE f.name = 'car-detection.mp4'").fetchone()
    source = canonical_proxy_key(row)
    services.store.put_file(source, app.config["SETTINGS"].DATA_DIR / row["proxy"], content_type="video/mp4")
    store_type = type(services.store)
    copies, uploads = [], []
    real_copy, real_put = store_type.copy, store_type.put_file
    monkeypatch.setattr(store_type, "copy", lambda s, src, dst, **kw: (copies.append((src, dst)),
                                                                       real_copy(s, src, dst, **kw))[1])
    monkeypatch.setattr(store_type, "put_file", lambda s, key, *a, **kw: (uploads.append(key),
                                                                          real_put(s, key, *a, **kw))[1])
    batch = staged(app, client)
    chunk = only_chunk(conn, batch["id"])
    assert [src for src, _ in copies] == [source]
    assert copies[0][1].startswith(chunk["staging_folder"] + "files/car-detection_")
    assert sum("/files/" in key for key in uploads) == 2 and chunk["manifest_key"] in uploads
    assert services.store.head(copies[0][1]).content_type == "video/mp4"


def test_a_job_where_every_record_failed_ends_failed_with_the_reasons(app, client, conn, services):
    batch = staged(app, client)
    process_batches_once(conn, services, force=True)
    chunk = only_chunk(conn, batch["id"])
    services.store.delete_many([o.key for o in services.store.list(chunk["staging_folder"] + "files/")])
    services.backend.run_once()
    process_batches_once(conn, services, force=True)
    chunk = only_chunk(conn, batch["id"])
    assert (chunk["provider_status"], chunk["status"]) == ("Failed", "FAILED")
    assert "All 3 records failed" in chunk["failure_message"]
    assert {code for r in results_by_file(conn, batch["id"]).values() for _, _, code in r} == {"400"}
    assert batches_db.get_batch(conn, batch["id"])["status"] == "FAILED"


def test_an_expired_job_fails_its_records_as_expired(app, client, conn, services):
    batch = staged(app, client)
    process_batches_once(conn, services, force=True)
    services.backend.run_once(now=utc() + timedelta(hours=200))  # never started within its timeout
    process_batches_once(conn, services, force=True)
    chunk = only_chunk(conn, batch["id"])
    assert (chunk["provider_status"], chunk["status"]) == ("Expired", "FAILED")
    results = results_by_file(conn, batch["id"])
    assert {code for r in results.values() for _, _, code in r} == {"batch_job_expired"}
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "FAILED"


def test_images_go_through_batch_jobs_by_s3_uri_when_enabled(app, client, conn, services):
    images = replace(services, settings=replace(services.settings, BATCH_IMAGES=True))
    from app.services.batch.submission import create_submission

    batch = create_submission(conn, images,
                              {"filter": {"media_type": "image"}, "analysis_types": ["combined"], "mode": "batch"})
    wait_tasks(app, batch)
    chunk = only_chunk(conn, batch["id"])
    assert chunk["records_total"] == 16  # 4 images x 4 image types
    media = [o.key for o in services.store.list(chunk["staging_folder"] + "files/")]
    assert len(media) == 4 and all(services.store.head(k).content_type.startswith("image/") for k in media)
    settle(app, conn, batch["id"])
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"
    assert client.get("/api/files?analysis=completed&media_type=image").get_json()["summary"]["count"] == 4


def test_a_completed_job_without_output_files_is_retried_not_failed(app, client, conn, services):
    batch = finished_job(app, client, conn, services)
    chunk = only_chunk(conn, batch["id"])
    output = [o.key for o in services.store.list(f"{chunk['output_prefix']}{chunk['job_id']}/")]
    saved = {}
    for key in output:
        with services.store.open_read(key) as stream:
            saved[key] = stream.read()
    services.store.delete_many(output)
    assert ingest_chunk(conn, services, chunk["id"])["outcome"] == "retrying"
    assert only_chunk(conn, batch["id"])["status"] == "FETCHING"
    assert {s for r in results_by_file(conn, batch["id"]).values() for _, s, _ in r} == {"PENDING"}
    for key, data in saved.items():
        services.store.put_bytes(key, data)
    assert ingest_chunk(conn, services, chunk["id"])["status"] == "COMPLETED"
