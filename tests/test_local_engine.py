"""LocalBatchEngine behaves like Bedrock batch inference (and InvokeModel) on a local store and analyser."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.db import connect
from app.db.migrator import migrate
from app.inference.base import (
    JOB_ARN_RE,
    ConflictError,
    InferenceError,
    NotFoundError,
    ValidationError,
    job_id_from_arn,
)
from app.inference.local.analyzer import LocalAnalyzer
from app.inference.local import LocalBatchEngine
from app.nova.parser import parse_model_output
from app.nova.prompts import FileContext
from app.nova.requests import build_request, image_media_bytes, image_media_s3, video_media_s3
from app.storage.local import LocalObjectStore

from conftest import SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS

BUCKET = "media-bucket"
ROLE = "arn:aws:iam::000000000000:role/local-batch"
MODEL = "us.amazon.nova-lite-v1:0"
OUTPUT_URI = f"s3://{BUCKET}/batch-output/"


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", BUCKET)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    conn = connect(path)
    try:
        migrate(conn)
    finally:
        conn.close()
    return path


@pytest.fixture
def analyzer(store: LocalObjectStore) -> LocalAnalyzer:
    return LocalAnalyzer(lambda uri: store.local_path(store.key_from_uri(uri)))


@pytest.fixture
def make_engine(db_path, store, analyzer):
    """Build engines on the shared database; every one is stopped at teardown."""
    engines: list[LocalBatchEngine] = []

    def make(**kwargs) -> LocalBatchEngine:
        engine = LocalBatchEngine(db_path, store, kwargs.pop("analyzer", analyzer), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop(timeout=10)


@pytest.fixture
def engine(make_engine) -> LocalBatchEngine:
    return make_engine()


def stage_media(store: LocalObjectStore, folder: str, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Copy sample files into the store under folder; return name -> s3 URI."""
    uris = {}
    for name in names:
        key = f"{folder}/{name}"
        store.put_file(key, SAMPLE_MEDIA / name)
        uris[name] = store.uri(key)
    return uris


def video_record(record_id: str, name: str, uri: str) -> dict:
    ctx = FileContext(name=name, folder="samples", duration_seconds=10.0)
    return {"recordId": record_id, "modelInput": build_request("combined", ctx, None, media=video_media_s3(uri, name))}


def image_record(record_id: str, name: str, uri: str) -> dict:
    ctx = FileContext(name=name, folder="samples", media_type="image")
    return {"recordId": record_id,
            "modelInput": build_request("description", ctx, None, media=image_media_s3(uri, "jpeg"))}


def write_jsonl(store: LocalObjectStore, key: str, lines: list) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    store.put_bytes(key, text.encode("utf-8"))


def read_jsonl(store: LocalObjectStore, key: str) -> list[dict]:
    with store.open_read(key) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_json(store: LocalObjectStore, key: str) -> dict:
    with store.open_read(key) as f:
        return json.load(f)


def image_job_folder(store: LocalObjectStore, folder: str, count: int = 3) -> list[dict]:
    """A job folder with `count` image records over files inside it; returns the records."""
    names = SAMPLE_IMAGES[:count]
    uris = stage_media(store, f"{folder}/files", names)
    records = [image_record(f"REC{i:08d}", name, uris[name]) for i, name in enumerate(names)]
    write_jsonl(store, f"{folder}/manifest.jsonl", records)
    return records


def submit(engine: LocalBatchEngine, folder_uri: str, name: str = "job-1", token: str | None = None,
           timeout_hours: int = 24) -> str:
    return engine.create_batch_job(name=name, model_id=MODEL, input_uri=folder_uri, output_uri=OUTPUT_URI,
                                   role_arn=ROLE, client_token=token or f"token-{name}", timeout_hours=timeout_hours)


def out_prefix(arn: str) -> str:
    return f"batch-output/{job_id_from_arn(arn)}/"


def set_job_state(db_path: Path, arn: str, **fields) -> None:
    conn = connect(db_path)
    try:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        conn.execute(f"UPDATE local_batch_jobs SET {assignments} WHERE job_id = ?",
                     (*fields.values(), job_id_from_arn(arn)))
    finally:
        conn.close()


class CallbackAnalyzer:
    """Wraps the real analyser and runs a callback after a given number of answers."""

    def __init__(self, inner: LocalAnalyzer, after: int, callback) -> None:
        self.inner, self.after, self.callback, self.calls = inner, after, callback, 0

    def respond(self, request: dict) -> dict:
        body = self.inner.respond(request)
        self.calls += 1
        if self.calls == self.after:
            self.callback()
        return body


def test_three_video_job_completes_with_outputs_joined_by_record_id(engine, store):
    uris = stage_media(store, "batch/job-1/files", SAMPLE_VIDEOS)
    records = [video_record(f"REC{i:08d}", name, uris[name]) for i, name in enumerate(SAMPLE_VIDEOS)]
    write_jsonl(store, "batch/job-1/manifest.jsonl", records)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-1/")
    assert JOB_ARN_RE.fullmatch(arn) and arn.startswith("arn:aws:bedrock:local:000000000000:model-invocation-job/")
    assert engine.get_batch_job(arn).status == "Submitted"

    assert engine.run_once() == 1

    job = engine.get_batch_job(arn)
    assert (job.status, job.message) == ("Completed", None)
    assert (job.total_records, job.processed_records, job.success_records, job.error_records) == (3, 3, 3, 0)
    assert job.end_time is not None and job.end_time >= job.submit_time
    prefix = out_prefix(arn)
    assert sorted(info.key for info in store.list(prefix)) == [f"{prefix}manifest.json.out",
                                                               f"{prefix}manifest.jsonl.out"]
    lines = read_jsonl(store, f"{prefix}manifest.jsonl.out")
    by_id = {line["recordId"]: line for line in lines}
    assert sorted(by_id) == [r["recordId"] for r in records]
    # Not input order: a deterministic order by a hash of recordId.
    assert [line["recordId"] for line in lines] == sorted(
        by_id, key=lambda rid: hashlib.sha256(rid.encode()).digest()[:8])
    input_tokens = output_tokens = 0
    for record in records:
        line = by_id[record["recordId"]]
        assert line["modelInput"] == record["modelInput"]
        parsed = parse_model_output(line["modelOutput"], "combined", media_type="video", duration_seconds=10.0)
        assert set(parsed.results) == {"summary", "chapters", "elements", "waterfall_classification",
                                       "search_metadata"}
        input_tokens += line["modelOutput"]["usage"]["inputTokens"]
        output_tokens += line["modelOutput"]["usage"]["outputTokens"]
    assert read_json(store, f"{prefix}manifest.json.out") == {
        "totalRecordCount": 3, "processedRecordCount": 3, "successRecordCount": 3, "errorRecordCount": 0,
        "inputTokenCount": input_tokens, "outputTokenCount": output_tokens}
    assert input_tokens > 0 and output_tokens > 0


def test_records_with_media_outside_the_input_folder_get_error_lines(engine, store):
    inside = stage_media(store, "batch/job-2/files", ["kiwi.jpg"])
    outside = stage_media(store, "elsewhere", ["Wall.jpg"])
    missing_uri = store.uri("batch/job-2/files/missing.jpg")
    write_jsonl(store, "batch/job-2/manifest.jsonl", [
        image_record("RECinside1", "kiwi.jpg", inside["kiwi.jpg"]),
        image_record("RECoutside", "Wall.jpg", outside["Wall.jpg"]),
        image_record("RECmissing", "missing.jpg", missing_uri),
    ])
    arn = submit(engine, f"s3://{BUCKET}/batch/job-2")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "PartiallyCompleted"
    assert "2 of 3 records failed" in job.message
    assert (job.processed_records, job.success_records, job.error_records) == (3, 1, 2)
    by_id = {line["recordId"]: line for line in read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")}
    assert "modelOutput" in by_id["RECinside1"] and "error" not in by_id["RECinside1"]
    outside_error = by_id["RECoutside"]["error"]
    assert outside_error["errorCode"] == 400
    assert outside["Wall.jpg"] in outside_error["errorMessage"]
    assert "outside the job's input folder" in outside_error["errorMessage"]
    assert "modelOutput" not in by_id["RECoutside"]
    assert by_id["RECmissing"]["error"]["errorCode"] == 400
    assert "media_not_found" in by_id["RECmissing"]["error"]["errorMessage"]
    manifest = read_json(store, f"{out_prefix(arn)}manifest.json.out")
    assert (manifest["successRecordCount"], manifest["errorRecordCount"]) == (1, 2)


def test_single_jsonl_input_cannot_use_s3_media_so_every_record_fails(engine, store):
    image_job_folder(store, "batch/job-3", count=2)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-3/manifest.jsonl")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Failed"
    assert job.message.startswith("All 2 records failed")
    lines = read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")
    assert len(lines) == 2
    assert all(line["error"]["errorCode"] == 400 and "single .jsonl file" in line["error"]["errorMessage"]
               for line in lines)


def test_every_jsonl_under_the_folder_is_read_into_its_own_out_file(engine, store):
    records = image_job_folder(store, "batch/job-4", count=2)
    write_jsonl(store, "batch/job-4/more/extra.jsonl", [dict(records[0], recordId="RECextra01")])
    store.put_bytes("batch/job-4/notes.txt", b"not an input")
    arn = submit(engine, f"s3://{BUCKET}/batch/job-4/")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert (job.status, job.total_records) == ("Completed", 3)
    prefix = out_prefix(arn)
    assert [line["recordId"] for line in read_jsonl(store, f"{prefix}more/extra.jsonl.out")] == ["RECextra01"]
    assert len(read_jsonl(store, f"{prefix}manifest.jsonl.out")) == 2


@pytest.mark.parametrize("bad_line, reason", [
    ({"modelInput": {"schemaVersion": "messages-v1"}}, "line 2 has no recordId"),
    ({"recordId": "REC2"}, "line 2 has no modelInput"),
    ("[1, 2]", "line 2 is not a JSON object"),
    ("{not json", "line 2 is not valid JSON"),
])
def test_a_malformed_line_fails_validation_of_the_whole_job(engine, store, bad_line, reason):
    records = image_job_folder(store, "batch/job-5", count=2)
    write_jsonl(store, "batch/job-5/manifest.jsonl", [records[0], bad_line, records[1]])
    arn = submit(engine, f"s3://{BUCKET}/batch/job-5/")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Failed"
    assert reason in job.message and "manifest.jsonl" in job.message
    assert job.total_records is None
    assert list(store.list(out_prefix(arn))) == []


def test_a_folder_without_jsonl_fails_validation(engine, store):
    stage_media(store, "batch/job-6/files", ["kiwi.jpg"])
    arn = submit(engine, f"s3://{BUCKET}/batch/job-6/")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Failed" and "No .jsonl input files" in job.message


def test_fewer_records_than_the_minimum_fail_validation(make_engine, store):
    engine = make_engine(min_records=3)
    image_job_folder(store, "batch/job-7", count=2)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-7/")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Failed"
    assert "2 records, fewer than the minimum of 3 records" in job.message


def test_create_is_idempotent_on_the_client_token(engine):
    first = submit(engine, f"s3://{BUCKET}/batch/a/", name="job-a", token="tok-1")
    again = submit(engine, f"s3://{BUCKET}/batch/other/", name="job-a2", token="tok-1")
    assert again == first
    assert [job.job_arn for job in engine.list_batch_jobs()] == [first]
    with pytest.raises(ValidationError, match="already exists"):
        submit(engine, f"s3://{BUCKET}/batch/a/", name="job-a", token="tok-2")
    found = engine.find_batch_job(name="job-a", client_token="tok-1")
    assert found is not None and found.job_arn == first


@pytest.mark.parametrize("override", [
    {"name": "bad_name"},
    {"name": "-starts-with-dash"},
    {"input_uri": f"s3://{BUCKET}/has space/"},
    {"input_uri": f"s3://{BUCKET}/a//b/"},
    {"output_uri": "s3://Upper/out/"},
    {"output_uri": "https://example.com/out/"},
    {"role_arn": ""},
    {"role_arn": "arn:aws:iam::123:role/short-account"},
    {"client_token": "under_score"},
    {"timeout_hours": 23},
    {"timeout_hours": 169},
    {"model_id": ""},
])
def test_create_rejects_what_bedrock_rejects(engine, override):
    args = {"name": "job-ok", "model_id": MODEL, "input_uri": f"s3://{BUCKET}/batch/ok/",
            "output_uri": OUTPUT_URI, "role_arn": ROLE, "client_token": "tok-ok", "timeout_hours": 24}
    with pytest.raises(ValidationError):
        engine.create_batch_job(**{**args, **override})
    assert list(engine.list_batch_jobs()) == []


def test_unknown_or_malformed_job_identifiers(engine):
    with pytest.raises(ValidationError):
        engine.get_batch_job("not-a-job")
    with pytest.raises(NotFoundError):
        engine.get_batch_job("abcdefghijkl")
    with pytest.raises(NotFoundError):
        engine.stop_batch_job("arn:aws:bedrock:local:000000000000:model-invocation-job/abcdefghijkl")


def test_stop_mid_job_ends_stopped_with_partial_outputs(make_engine, analyzer, store):
    holder: dict[str, str] = {}
    engine = make_engine(analyzer=CallbackAnalyzer(analyzer, 1, lambda: engine.stop_batch_job(holder["arn"])))
    image_job_folder(store, "batch/job-8", count=3)
    holder["arn"] = arn = submit(engine, f"s3://{BUCKET}/batch/job-8/")
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Stopped"
    assert (job.total_records, job.processed_records, job.success_records) == (3, 1, 1)
    assert job.message == "Stopped by request after 1 of 3 records."
    assert len(read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")) == 1
    manifest = read_json(store, f"{out_prefix(arn)}manifest.json.out")
    assert (manifest["totalRecordCount"], manifest["processedRecordCount"]) == (3, 1)
    with pytest.raises(ConflictError):
        engine.stop_batch_job(arn)


def test_outputs_and_counters_grow_while_the_job_is_in_progress(make_engine, analyzer, store):
    uris = stage_media(store, "batch/job-16/files", ["kiwi.jpg"])
    records = [image_record(f"REC{i:08d}", "kiwi.jpg", uris["kiwi.jpg"]) for i in range(25)]
    write_jsonl(store, "batch/job-16/manifest.jsonl", records)
    seen = {}

    def look() -> None:
        seen["job"] = engine.get_batch_job(arn)
        seen["lines"] = read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")
        seen["manifest"] = read_json(store, f"{out_prefix(arn)}manifest.json.out")

    engine = make_engine(analyzer=CallbackAnalyzer(analyzer, 15, look))
    arn = submit(engine, f"s3://{BUCKET}/batch/job-16/")
    engine.run_once()

    assert (seen["job"].status, seen["job"].total_records, seen["job"].processed_records) == ("InProgress", 25, 14)
    assert len(seen["lines"]) == 10 and seen["manifest"]["processedRecordCount"] == 10
    assert engine.get_batch_job(arn).status == "Completed"
    assert len(read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")) == 25


def test_stopping_a_job_before_it_runs(engine, store):
    image_job_folder(store, "batch/job-9", count=1)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-9/")
    engine.stop_batch_job(arn)
    assert engine.get_batch_job(arn).status == "Stopping"
    engine.stop_batch_job(arn)  # asking again while Stopping is harmless
    engine.run_once()

    job = engine.get_batch_job(arn)
    assert job.status == "Stopped" and job.processed_records is None
    assert list(store.list(out_prefix(arn))) == []


def test_job_interrupted_by_shutdown_resumes_in_a_new_engine_without_duplicates(make_engine, analyzer, store, db_path):
    first = make_engine(analyzer=CallbackAnalyzer(analyzer, 1, lambda: first.stop(timeout=0)))
    records = image_job_folder(store, "batch/job-10", count=3)
    arn = submit(first, f"s3://{BUCKET}/batch/job-10/")
    first.run_once()

    paused = first.get_batch_job(arn)
    assert (paused.status, paused.processed_records) == ("InProgress", 1)
    assert len(read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")) == 1

    second = make_engine()
    assert second.run_once() == 1
    job = second.get_batch_job(arn)
    assert (job.status, job.processed_records, job.success_records) == ("Completed", 3, 3)
    ids = [line["recordId"] for line in read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")]
    assert sorted(ids) == sorted(r["recordId"] for r in records)
    assert read_json(store, f"{out_prefix(arn)}manifest.json.out")["processedRecordCount"] == 3


def test_job_held_by_a_dead_process_is_taken_over_and_outputs_rewritten(engine, store, db_path):
    records = image_job_folder(store, "batch/job-11", count=2)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-11/")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    far = (engine.get_batch_job(arn).submit_time + timedelta(hours=1)).isoformat()
    set_job_state(db_path, arn, status="InProgress", total_records=2, processed_records=1,
                  claimed_by=f"{socket.gethostname()}:{dead.pid}:deadbeef", claimed_until=far)
    write_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out", [records[0]] * 5)
    write_jsonl(store, f"{out_prefix(arn)}stale.jsonl.out", [records[0]])

    assert engine.run_once() == 1
    assert engine.get_batch_job(arn).status == "Completed"
    assert sorted(info.key.rsplit("/", 1)[1] for info in store.list(out_prefix(arn))) == [
        "manifest.json.out", "manifest.jsonl.out"]
    assert len(read_jsonl(store, f"{out_prefix(arn)}manifest.jsonl.out")) == 2


def test_job_leased_by_another_host_waits_for_the_lease_to_run_out(engine, store, db_path):
    image_job_folder(store, "batch/job-12", count=1)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-12/")
    submitted = engine.get_batch_job(arn).submit_time
    set_job_state(db_path, arn, status="Scheduled", total_records=1, claimed_by="other-host:1:cafe",
                  claimed_until=(submitted + timedelta(minutes=5)).isoformat())

    assert engine.run_once(now=submitted + timedelta(minutes=1)) == 0
    assert engine.get_batch_job(arn).status == "Scheduled"
    assert engine.run_once(now=submitted + timedelta(minutes=6)) == 1
    assert engine.get_batch_job(arn).status == "Completed"


def test_list_filters_and_newest_first_order(engine):
    arns = [submit(engine, f"s3://{BUCKET}/batch/{name}/", name=name) for name in ("alpha-1", "alpha-2", "beta-1")]
    assert [job.job_arn for job in engine.list_batch_jobs()] == arns[::-1]
    assert [job.name for job in engine.list_batch_jobs(name_contains="alpha")] == ["alpha-2", "alpha-1"]
    assert len(list(engine.list_batch_jobs(status="Submitted"))) == 3
    assert list(engine.list_batch_jobs(status="Completed")) == []
    second = engine.get_batch_job(arns[1]).submit_time
    assert [job.name for job in engine.list_batch_jobs(submitted_after=second)] == ["beta-1"]
    assert [job.name for job in engine.list_batch_jobs(submitted_after=second.replace(tzinfo=None))] == ["beta-1"]
    with pytest.raises(ValidationError):
        engine.list_batch_jobs(status="Running")
    with pytest.raises(ValidationError):
        engine.list_batch_jobs(name_contains="no_underscores")


def test_jobs_not_started_within_the_timeout_expire(engine, store, db_path):
    image_job_folder(store, "batch/job-13", count=1)
    submitted_arn = submit(engine, f"s3://{BUCKET}/batch/job-13/", name="waits-submitted")
    scheduled_arn = submit(engine, f"s3://{BUCKET}/batch/job-13/", name="waits-scheduled", timeout_hours=48)
    set_job_state(db_path, scheduled_arn, status="Scheduled", total_records=1)
    submitted = engine.get_batch_job(submitted_arn).submit_time

    engine.run_once(now=submitted + timedelta(hours=49))

    for arn in (submitted_arn, scheduled_arn):
        job = engine.get_batch_job(arn)
        assert job.status == "Expired" and "not started before its timeout" in job.message
        assert job.end_time == submitted + timedelta(hours=49)
    assert job.expiration_time == job.submit_time + timedelta(hours=48)


def test_a_job_still_running_at_its_expiration_ends_partially_completed(engine, store, db_path):
    image_job_folder(store, "batch/job-14", count=1)
    arn = submit(engine, f"s3://{BUCKET}/batch/job-14/")
    set_job_state(db_path, arn, status="InProgress", total_records=1)
    engine.run_once(now=engine.get_batch_job(arn).submit_time + timedelta(hours=25))

    job = engine.get_batch_job(arn)
    assert job.status == "PartiallyCompleted" and "timed out after 24 hours" in job.message


def test_invoke_answers_on_demand_and_maps_analyzer_errors(engine, store):
    data = (SAMPLE_MEDIA / "kiwi.jpg").read_bytes()
    ctx = FileContext(name="kiwi.jpg", folder="samples", media_type="image")
    body = engine.invoke(MODEL, build_request("description", ctx, None, media=image_media_bytes(data)))
    parsed = parse_model_output(body, "description", media_type="image")
    assert parsed.results["description"]["text"] and parsed.input_tokens > 0

    missing = build_request("description", ctx, None, media=image_media_s3(store.uri("nowhere/kiwi.jpg"), "jpeg"))
    with pytest.raises(ValidationError, match="media_not_found"):
        engine.invoke(MODEL, missing)
    with pytest.raises(ValidationError, match="invalid_request"):
        engine.invoke(MODEL, {"messages": []})
    garbage = {"image": {"format": "jpeg", "source": {"bytes": base64.b64encode(b"\xff\xd8\xff" + b"x" * 64).decode()}}}
    with pytest.raises(InferenceError) as excinfo:
        engine.invoke(MODEL, build_request("description", ctx, None, media=garbage))
    assert excinfo.value.code == "ModelErrorException" and not isinstance(excinfo.value, ValidationError)


def test_background_worker_walks_the_statuses_and_stops(make_engine, store):
    engine = make_engine(step_delay=0.2, poll_interval=0.05, workers=2)
    image_job_folder(store, "batch/job-15", count=2)
    image_job_folder(store, "batch/job-15b", count=1)
    engine.start()
    assert any(t.name == "local-batch-engine" and t.daemon for t in threading.enumerate())
    arn = submit(engine, f"s3://{BUCKET}/batch/job-15/")
    other = submit(engine, f"s3://{BUCKET}/batch/job-15b/", name="job-2")
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while not (job := engine.get_batch_job(arn)).terminal:
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(0.02)
    seen.append(job.status)
    assert job.status == "Completed"
    assert {"Validating", "Scheduled"} <= set(seen)
    order = ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
    assert [order.index(status) for status in seen] == sorted(order.index(status) for status in seen)
    while not (second := engine.get_batch_job(other)).terminal:
        assert time.monotonic() < deadline, f"second job still {second.status}"
        time.sleep(0.02)
    assert second.status == "Completed"
    engine.stop(timeout=5)
    assert not engine.running
    assert not any(t.name.startswith("local-batch-engine") for t in threading.enumerate())
