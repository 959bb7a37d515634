"""The AWS path: staging into moto's S3, and Bedrock's control plane checked call by call with a
botocore Stubber on BedrockBackend's real client (moto does not implement batch inference jobs)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.inference.local.analyzer import LocalAnalyzer
from app.utils.clock import utc
from app.services.batch.process import process_batches_once
from batch_support import conn, data_dir, results_by_file, seeded_template, wait_tasks  # noqa: F401
from helpers import fake_aws_env

BUCKET = "media-batch-test"
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-batch"
MODEL_ID = "us.amazon.nova-2-lite-v1:0"
JOB_ID = "abcdef123456"
JOB_ARN = f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{JOB_ID}"
SHORT_VIDEOS = ("bottle-detection.mp4", "car-detection.mp4")


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """Fake credentials, no local AWS config, and moto's S3 with an empty bucket."""
    fake_aws_env(monkeypatch, tmp_path)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def app_config(app_config, aws):
    return {**app_config, "STORAGE_BACKEND": "s3", "S3_BUCKET_NAME": BUCKET, "INFERENCE_BACKEND": "bedrock",
            "BEDROCK_BATCH_ROLE_ARN": ROLE_ARN, "BATCH_MIN_RECORDS": 1, "AWS_REGION": "us-east-1",
            "LOG_LEVEL": "warning"}


@pytest.fixture
def services(app):
    return app.extensions["services"]


@pytest.fixture
def bedrock(services):
    stubber = Stubber(services.backend.control_client)
    stubber.activate()
    yield stubber
    stubber.deactivate()


def submit_short_videos(app, client) -> dict:
    items = client.get("/api/files?media_type=video").get_json()["items"]
    ids = [item["id"] for item in items if item["name"] in SHORT_VIDEOS]
    response = client.post("/api/batch/nova", json={"file_ids": ids, "model": "lite", "mode": "batch",
                                                    "analysis_types": ["combined"]})
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    wait_tasks(app, batch)
    return batch


def expect_create(bedrock: Stubber, chunk, services) -> None:
    bedrock.add_response("create_model_invocation_job", {"jobArn": JOB_ARN}, expected_params={
        "jobName": chunk["job_name"], "roleArn": ROLE_ARN, "modelId": MODEL_ID,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{chunk['staging_folder']}",
                                                  "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/{chunk['output_prefix']}"}},
        "clientRequestToken": chunk["client_token"], "timeoutDurationInHours": 72,
    })


def job_description(chunk, status: str, **extra) -> dict:
    submitted = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    return {
        "jobArn": JOB_ARN, "jobName": chunk["job_name"], "modelId": MODEL_ID,
        "clientRequestToken": chunk["client_token"], "roleArn": ROLE_ARN, "status": status,
        "submitTime": submitted, "lastModifiedTime": submitted + timedelta(hours=1),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/{chunk['staging_folder']}"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/{chunk['output_prefix']}"}},
        "jobExpirationTime": submitted + timedelta(hours=72), **extra,
    }


def write_bedrock_output(services, chunk, tmp_path: Path, *, fail_name: str | None = None) -> int:
    """What Bedrock would write: `<output>/<job id>/manifest.jsonl.out` plus manifest.json.out."""
    store = services.store

    def download(uri: str) -> Path:
        key = store.key_from_uri(uri)
        target = tmp_path / key.rsplit("/", 1)[1]
        with store.open_read(key) as stream:
            target.write_bytes(stream.read())
        return target

    analyzer = LocalAnalyzer(download)
    lines, errors, tokens_in, tokens_out = [], 0, 0, 0
    with store.open_read(chunk["manifest_key"]) as stream:
        records = [json.loads(raw) for raw in stream]
    for record in records:
        uri = record["modelInput"]["messages"][0]["content"][0]["video"]["source"]["s3Location"]["uri"]
        if fail_name and fail_name.split(".")[0] in uri:
            errors += 1
            lines.append({**record, "error": {"errorCode": 400, "errorMessage": "Malformed input request"}})
        else:
            body = analyzer.respond(record["modelInput"])
            tokens_in += body["usage"]["inputTokens"]
            tokens_out += body["usage"]["outputTokens"]
            lines.append({**record, "modelOutput": body})
    prefix = f"{chunk['output_prefix']}{JOB_ID}/"
    store.put_bytes(prefix + "manifest.jsonl.out", "".join(json.dumps(line) + "\n" for line in lines).encode())
    store.put_bytes(prefix + "manifest.json.out", json.dumps({
        "totalRecordCount": len(records), "processedRecordCount": len(records),
        "successRecordCount": len(records) - errors, "errorRecordCount": errors,
        "inputTokenCount": tokens_in, "outputTokenCount": tokens_out}).encode())
    return len(records)


def test_a_partially_completed_job_on_aws_is_staged_submitted_tracked_and_ingested(
        app, client, conn, services, bedrock, tmp_path):
    batch = submit_short_videos(app, client)
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    assert chunk["status"] == "QUEUED"
    s3 = services.store.client
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=chunk["staging_folder"])["Contents"]
    media = [o["Key"] for o in listed if "/files/" in o["Key"]]
    assert len(media) == 2
    assert all(s3.head_object(Bucket=BUCKET, Key=k)["ContentType"] == "video/mp4" for k in media)

    expect_create(bedrock, chunk, services)
    assert process_batches_once(conn, services, force=True)["submit"]["submitted"] == 1
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert (chunk["status"], chunk["job_arn"], chunk["job_id"]) == ("SUBMITTED", JOB_ARN, JOB_ID)
    bedrock.assert_no_pending_responses()

    bedrock.add_response("get_model_invocation_job", job_description(chunk, "InProgress", totalRecordCount=2,
                                                                     processedRecordCount=1, successRecordCount=1,
                                                                     errorRecordCount=0),
                         expected_params={"jobIdentifier": JOB_ARN})
    process_batches_once(conn, services, force=True)
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert (chunk["status"], chunk["provider_status"], chunk["records_processed"]) == ("IN_PROGRESS", "InProgress", 1)
    assert chunk["expires_at"].startswith("2026-11-28T12:00:00")

    write_bedrock_output(services, chunk, tmp_path, fail_name="car-detection.mp4")
    bedrock.add_response("get_model_invocation_job", job_description(
        chunk, "PartiallyCompleted", message="1 of 2 records failed", endTime=datetime(2026, 11, 25, 14, 0,
                                                                                         tzinfo=timezone.utc),
        totalRecordCount=2, processedRecordCount=2, successRecordCount=1, errorRecordCount=1),
        expected_params={"jobIdentifier": JOB_ARN})
    process_batches_once(conn, services, force=True)
    bedrock.assert_no_pending_responses()

    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert (chunk["status"], chunk["provider_status"]) == ("PARTIAL", "PartiallyCompleted")
    assert (chunk["records_succeeded"], chunk["records_failed"]) == (1, 1)
    assert chunk["failure_message"] == "1 of 2 records failed"
    assert json.loads(chunk["ingest_stats"])["manifest_mismatches"] == {}
    results = results_by_file(conn, batch["id"])
    assert results == {"bottle-detection.mp4": [("combined", "COMPLETED", None)],
                       "car-detection.mp4": [("combined", "FAILED", "400")]}
    cost = conn.execute("SELECT cost_usd, tokens_input FROM analysis_runs WHERE status = 'COMPLETED'").fetchone()
    assert cost["tokens_input"] > 0 and cost["cost_usd"] > 0
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "PARTIAL" and shown["cost"]["actual_usd"] == pytest.approx(cost["cost_usd"])


def test_a_create_call_that_timed_out_is_healed_by_name_lookup_without_a_second_job(
        app, client, conn, services, bedrock, tmp_path):
    batch = submit_short_videos(app, client)
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    bedrock.add_client_error("create_model_invocation_job", service_error_code="InternalServerException",
                             service_message="request timed out", http_status_code=500)
    assert process_batches_once(conn, services, force=True)["submit"]["deferred"] == 1
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert chunk["status"] == "QUEUED" and chunk["create_uncertain"] == 1

    # The job was created after all: the next attempt finds it by name and token instead of creating.
    bedrock.add_response("list_model_invocation_jobs", {"invocationJobSummaries": [
        {k: v for k, v in job_description(chunk, "Scheduled").items() if k != "jobExpirationTime"}]},
        expected_params={"nameContains": chunk["job_name"], "sortBy": "CreationTime", "sortOrder": "Descending",
                         "submitTimeAfter": ANY, "maxResults": 1000})
    assert process_batches_once(conn, services, force=True)["submit"]["healed"] == 1
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert (chunk["status"], chunk["job_arn"], chunk["provider_status"]) == ("SUBMITTED", JOB_ARN, "Scheduled")

    write_bedrock_output(services, chunk, tmp_path)
    bedrock.add_response("get_model_invocation_job", job_description(chunk, "Completed"),
                         expected_params={"jobIdentifier": JOB_ARN})
    process_batches_once(conn, services, force=True)
    bedrock.assert_no_pending_responses()  # exactly one create, one lookup and one status call
    assert chunks_db.get_chunk(conn, chunk["id"])["status"] == "COMPLETED"
    assert client.get(f"/api/batch/{batch['id']}").get_json()["status"] == "COMPLETED"


def test_throttling_on_create_leaves_the_chunk_queued_and_the_retry_creates_it(
        app, client, conn, services, bedrock):
    batch = submit_short_videos(app, client)
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    bedrock.add_client_error("create_model_invocation_job", service_error_code="ThrottlingException",
                             service_message="Too many requests", http_status_code=429)
    now = utc()
    assert process_batches_once(conn, services, now=now)["submit"]["deferred"] == 1
    chunk = chunks_db.get_chunk(conn, chunk["id"])
    assert (chunk["status"], chunk["create_uncertain"], chunk["submit_attempts"]) == ("QUEUED", 0, 1)
    assert "ThrottlingException" in chunk["last_error"]

    expect_create(bedrock, chunk, services)  # no lookup first: a throttled call created nothing
    assert process_batches_once(conn, services, now=now + timedelta(minutes=5))["submit"]["submitted"] == 1
    bedrock.assert_no_pending_responses()
    assert chunks_db.get_chunk(conn, chunk["id"])["status"] == "SUBMITTED"


def test_a_permanent_create_error_fails_the_chunk_and_its_runs_with_the_reason(app, client, conn, services, bedrock):
    batch = submit_short_videos(app, client)
    bedrock.add_client_error("create_model_invocation_job", service_error_code="AccessDeniedException",
                             service_message="not authorized to perform: iam:PassRole", http_status_code=403)
    assert process_batches_once(conn, services, force=True)["submit"]["failed"] == 1
    chunk = chunks_db.list_chunks(conn, batch["id"])[0]
    assert chunk["status"] == "FAILED" and "iam:PassRole" in chunk["failure_message"]
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "FAILED"
    assert all(f["status"] == "FAILED" and "iam:PassRole" in f["error"] for f in shown["files"])


def test_get_batch_reads_the_database_only(app, client, conn, services, bedrock):
    batch = submit_short_videos(app, client)
    expect_create(bedrock, chunks_db.list_chunks(conn, batch["id"])[0], services)
    process_batches_once(conn, services, force=True)
    # Nothing is queued on the stubber: any AWS call from these reads would raise.
    assert client.get(f"/api/batch/{batch['id']}").status_code == 200
    assert client.get("/api/batch").status_code == 200
    bedrock.assert_no_pending_responses()
