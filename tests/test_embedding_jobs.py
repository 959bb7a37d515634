"""Asynchronous video embeddings on Bedrock as the poller drives them (botocore Stubber on a real client):
start with the app's token, one list call per cycle, ingest from the output, throttling and quotas queued,
failures recorded, and a crash between start and record healed by the token."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from app import create_app
from app.db import connect
from app.inference.embeddings.bedrock import BedrockEmbeddings
from app.services import embedding_jobs, embeddings
from app.utils.clock import utcnow
from batch_support import copy_template, seeded_template  # noqa: F401 (fixture)
from helpers import fake_aws_env

DIM = 256
ARN = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456"


@pytest.fixture
def world(seeded_template, tmp_path, monkeypatch):  # noqa: F811
    """The seeded library (proxies made) with Bedrock embeddings stubbed; both videos queued for embedding."""
    fake_aws_env(monkeypatch, tmp_path)
    data = copy_template(seeded_template, tmp_path / "data")
    app = create_app({"DATA_DIR": str(data), "LIBRARY_ROOTS": (seeded_template.library.parent, data),
                      "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning", "EMBEDDING_DIMENSION": DIM})
    bedrock = BedrockEmbeddings(region="us-east-1", dimension=DIM)
    services = dataclasses.replace(app.extensions["services"], embeddings=bedrock)
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    videos = [row["id"] for row in conn.execute("SELECT id FROM files WHERE media_type = 'video' ORDER BY id LIMIT 2")]
    for file_id in videos:
        embeddings.embed_file(services, conn, file_id, utcnow())
    with Stubber(bedrock.client) as stub:
        yield services, conn, stub, videos
        stub.assert_no_pending_responses()
    conn.close()


def rows(conn):
    return conn.execute("SELECT * FROM embedding_invocations ORDER BY id").fetchall()


def summary(arn, token, status="InProgress", output=None, message=None):
    data = {"invocationArn": arn, "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/x", "status": status,
            "clientRequestToken": token, "submitTime": utcnow(),
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output or "s3://media-library/x/"}}}
    if message:
        data["failureMessage"] = message
    return data


def arn(n):
    return ARN.replace("abcdef123456", f"abcdef{n:06d}")


def write_output(store, prefix, segments):
    """What Bedrock leaves under the output folder of a finished invocation."""
    lines = "".join(json.dumps({"embedding": [0.1 * (i + 1)] * DIM, "status": "SUCCESS", "segmentMetadata": {
        "segmentIndex": i, "segmentStartSeconds": i * 15.0, "segmentEndSeconds": i * 15.0 + 15}}) + "\n"
        for i in range(segments))
    store.put_bytes(f"{prefix}/embedding-audio-video.jsonl", lines.encode())
    store.put_bytes(f"{prefix}/segmented-embedding-result.json", json.dumps({
        "sourceFileUri": "s3://media-library/in.mp4", "embeddingDimension": DIM, "embeddingResults": [
            {"embeddingType": "AUDIO_VIDEO_COMBINED", "status": "SUCCESS",
             "outputFileUri": store.uri(f"{prefix}/embedding-audio-video.jsonl")}]}).encode())


def test_videos_are_staged_and_queued_with_deterministic_tokens(world):
    services, conn, _stub, videos = world
    queued = rows(conn)
    assert [r["file_id"] for r in queued] == videos and {r["status"] for r in queued} == {"QUEUED"}
    for row in queued:
        assert row["client_token"].startswith(f"mlib-emb-{row['id']}-") and services.store.exists(row["input_key"])
    assert embeddings.client_token(queued[0]["id"], conn.execute("SELECT * FROM files WHERE id = ?", (videos[0],)).fetchone(),
                                   services.embeddings, services.settings) == queued[0]["client_token"]


def test_start_list_once_per_cycle_then_ingest_and_clean_up(world):
    services, conn, stub, videos = world
    store = services.store
    first, second = rows(conn)
    for n, row in enumerate((first, second)):
        stub.add_response("start_async_invoke", {"invocationArn": arn(n)}, expected_params={
            "modelId": services.embeddings.model_id, "modelInput": stub_any(), "clientRequestToken": row["client_token"],
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": store.uri(row["output_prefix"].rstrip("/")) + "/"}}})
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert done["submit"]["submitted"] == 2 and {r["status"] for r in rows(conn)} == {"IN_PROGRESS"}
    out = [f"{r['output_prefix']}abcdef{n:06d}" for n, r in enumerate((first, second))]
    write_output(store, out[0], 3)
    stub.add_response("list_async_invokes", {"asyncInvokeSummaries": [
        summary(arn(0), first["client_token"], "Completed", store.uri(out[0])),
        summary(arn(1), second["client_token"])]})  # one call for both
    done = embedding_jobs.process_embeddings_once(conn, services, force=True)
    assert done["refresh"]["checked"] == 2 and done["ingest"] == {"ingested": 1, "vectors": 3, "fetch_failed": 0,
                                                                  "failures": []}
    vectors = conn.execute("SELECT kind, start_seconds, end_seconds, backend, dimension FROM embeddings WHERE file_id = ?"
                           " ORDER BY start_seconds", (videos[0],)).fetchall()
    assert [tuple(v) for v in vectors] == [("video", 0.0, 15.0, "bedrock", DIM), ("video", 15.0, 30.0, "bedrock", DIM),
                                           ("video", 30.0, 45.0, "bedrock", DIM)]
    assert [r["status"] for r in rows(conn)] == ["COMPLETED", "IN_PROGRESS"]
    assert not store.exists(first["input_key"]) and not list(store.list(first["output_prefix"]))


def stub_any():
    from botocore.stub import ANY

    return ANY


def test_a_crash_between_start_and_record_is_healed_by_the_token(world, monkeypatch):
    services, conn, stub, _videos = world
    first, second = rows(conn)
    stub.add_response("start_async_invoke", {"invocationArn": arn(0)})

    def crash(name):
        raise KeyboardInterrupt(name)  # the process dies right after the service accepted the start

    monkeypatch.setattr(embedding_jobs, "crashpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert (rows(conn)[0]["status"], rows(conn)[0]["attempts"], rows(conn)[0]["invocation_arn"]) == ("QUEUED", 1, None)
    monkeypatch.undo()
    # The next pass finds the invocation by its token (one list call) instead of starting a twin.
    stub.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary(arn(0), first["client_token"])]})
    stub.add_response("start_async_invoke", {"invocationArn": arn(1)},
                      expected_params={"modelId": stub_any(), "modelInput": stub_any(), "outputDataConfig": stub_any(),
                                       "clientRequestToken": second["client_token"]})
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert (done["submit"]["healed"], done["submit"]["submitted"]) == (1, 1)
    assert [(r["status"], r["invocation_arn"]) for r in rows(conn)] == [("IN_PROGRESS", arn(0)), ("IN_PROGRESS", arn(1))]


def test_throttling_waits_and_retries_with_the_same_token(world):
    services, conn, stub, _videos = world
    first = rows(conn)[0]
    now = utcnow()
    stub.add_client_error("start_async_invoke", service_error_code="ThrottlingException", http_status_code=429)
    stub.add_client_error("start_async_invoke", service_error_code="ThrottlingException", http_status_code=429)
    done = embedding_jobs.process_embeddings_once(conn, services, now, status_checks="none")
    assert done["submit"]["deferred"] == 2 and {r["status"] for r in rows(conn)} == {"QUEUED"}
    assert rows(conn)[0]["next_attempt_at"] > now.isoformat() and "ThrottlingException" in rows(conn)[0]["last_error"]
    assert embedding_jobs.process_embeddings_once(conn, services, now, status_checks="none")["submit"]["submitted"] == 0
    later = now + timedelta(hours=2)
    stub.add_response("list_async_invokes", {"asyncInvokeSummaries": []})  # attempted before: looked up first
    for n, row in enumerate(rows(conn)):
        stub.add_response("start_async_invoke", {"invocationArn": arn(n)}, expected_params={
            "modelId": stub_any(), "modelInput": stub_any(), "outputDataConfig": stub_any(),
            "clientRequestToken": row["client_token"]})
    done = embedding_jobs.process_embeddings_once(conn, services, later, status_checks="none")
    assert done["submit"]["submitted"] == 2 and rows(conn)[0]["client_token"] == first["client_token"]


def test_a_full_quota_keeps_the_rest_queued(world):
    services, conn, stub, _videos = world
    stub.add_client_error("start_async_invoke", service_error_code="ServiceQuotaExceededException",
                          http_status_code=400)
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert done["submit"]["deferred"] == 2  # one call: the second waits without asking
    assert [r["attempts"] for r in rows(conn)] == [1, 0]


def test_concurrency_limit_queues_the_rest(world, monkeypatch):
    services, conn, stub, _videos = world
    settings = dataclasses.replace(services.settings, EMBEDDING_MAX_CONCURRENT=1)
    services = dataclasses.replace(services, settings=settings)
    stub.add_response("start_async_invoke", {"invocationArn": arn(0)})
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert (done["submit"]["submitted"], done["submit"]["deferred"]) == (1, 1)


def test_rejected_and_failed_invocations_are_recorded_and_cleaned_up(world):
    services, conn, stub, _videos = world
    first, second = rows(conn)
    stub.add_client_error("start_async_invoke", service_error_code="ValidationException", service_message="bad video",
                          http_status_code=400)
    stub.add_response("start_async_invoke", {"invocationArn": arn(1)})
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert done["submit"]["failed"] == 1 and "bad video" in done["submit"]["failures"][0]
    assert rows(conn)[0]["status"] == "FAILED" and not services.store.exists(first["input_key"])
    stub.add_response("list_async_invokes", {"asyncInvokeSummaries": [
        summary(arn(1), second["client_token"], "Failed", message="RAI_VIOLATION_INPUT_IMAGE_DEFLECTION")]})
    done = embedding_jobs.process_embeddings_once(conn, services, force=True)
    assert done["refresh"]["failed"] == 1 and rows(conn)[1]["failure_message"] == "RAI_VIOLATION_INPUT_IMAGE_DEFLECTION"


def test_a_conflict_on_start_adopts_the_invocation_with_its_token(world):
    services, conn, stub, _videos = world
    first = rows(conn)[0]
    stub.add_client_error("start_async_invoke", service_error_code="ConflictException", http_status_code=409)
    stub.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary(arn(0), first["client_token"])]})
    stub.add_response("start_async_invoke", {"invocationArn": arn(1)})
    embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert rows(conn)[0]["invocation_arn"] == arn(0)


def test_a_file_deleted_while_its_video_is_embedded_leaves_no_objects(world):
    services, conn, stub, videos = world
    first = rows(conn)[0]
    conn.execute("DELETE FROM files WHERE id = ?", (videos[0],))
    assert len(rows(conn)) == 1
    stub.add_response("start_async_invoke", {"invocationArn": arn(1)})
    done = embedding_jobs.process_embeddings_once(conn, services, status_checks="none")
    assert done["orphans_removed"] == 2 and not services.store.exists(first["input_key"])
