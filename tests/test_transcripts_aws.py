"""The Amazon Transcribe path: audio staged into moto's S3, and every Transcribe call checked with botocore's
Stubber on AwsTranscriber's real client (moto's Transcribe writes no output and never fails a job, see
docs/transcribe-facts.md §moto): start, crash before recording, adoption, list-based status checks, output
parsed into lines and speakers, throttling, failures with their reasons, limits and the concurrency queue."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from app.db import connect
from app.inference.transcribe.aws import AwsTranscriber
from app.services.transcripts import process
from app.services.transcripts.process import process_transcripts_once
from helpers import fake_aws_env
from transcript_support import (import_library, library_with, request_transcripts, speech_media,  # noqa: F401
                                transcript_of)

BUCKET = "media-transcribe-test"
CREATED = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def aws(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def app_config(app_config, aws):
    return {**app_config, "STORAGE_BACKEND": "s3", "S3_BUCKET_NAME": BUCKET, "AWS_REGION": "us-east-1",
            "TRANSCRIBE_BACKEND": "aws", "LOG_LEVEL": "warning"}


@pytest.fixture
def services(app):
    return app.extensions["services"]


@pytest.fixture
def transcribe(services):
    assert isinstance(services.transcriber, AwsTranscriber)
    stubber = Stubber(services.transcriber.client)
    stubber.activate()
    yield stubber
    stubber.deactivate()


@pytest.fixture
def conn(app):
    connection = connect(app.config["SETTINGS"].DATABASE_PATH)
    yield connection
    connection.close()


def jobs(conn):
    return [dict(r) for r in conn.execute("SELECT * FROM transcription_jobs ORDER BY id")]


def media_uri(job):
    return f"s3://{BUCKET}/{job['media_key']}"


def expect_start(stub: Stubber, job, *, status: str = "QUEUED") -> None:
    stub.add_response("start_transcription_job", {"TranscriptionJob": {
        "TranscriptionJobName": job["job_name"], "TranscriptionJobStatus": status,
        "Media": {"MediaFileUri": media_uri(job)}, "CreationTime": CREATED}}, expected_params={
        "TranscriptionJobName": job["job_name"], "Media": {"MediaFileUri": media_uri(job)}, "MediaFormat": "flac",
        "OutputBucketName": BUCKET, "OutputKey": job["output_key"], "IdentifyLanguage": True,
        "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 10}})


def described(job, status: str, **extra) -> dict:
    return {"TranscriptionJob": {"TranscriptionJobName": job["job_name"], "TranscriptionJobStatus": status,
                                 "Media": {"MediaFileUri": media_uri(job)}, "CreationTime": CREATED, **extra}}


def summary(name: str, status: str, **extra) -> dict:
    return {"TranscriptionJobName": name, "TranscriptionJobStatus": status, "CreationTime": CREATED, **extra}


def transcribe_output(job, cues) -> dict:
    """What Amazon Transcribe writes: words with times as strings, punctuation without, speakers, language."""
    items = []
    for number, (start, end, sentence) in enumerate(cues):
        words = sentence.rstrip(".").split()
        step = (end - start) / len(words)
        for index, word in enumerate(words):
            items.append({"type": "pronunciation", "start_time": f"{start + index * step:.2f}",
                          "end_time": f"{start + (index + 1) * step:.2f}", "speaker_label": f"spk_{number % 2}",
                          "alternatives": [{"content": word, "confidence": "0.99"}]})
        items.append({"type": "punctuation", "alternatives": [{"content": ".", "confidence": "0.0"}]})
    return {"jobName": job["job_name"], "accountId": "123456789012", "status": "COMPLETED", "results": {
        "language_code": "en-US", "language_identification": [{"code": "en-US", "score": "0.97"},
                                                              {"code": "en-GB", "score": "0.02"}],
        "transcripts": [{"transcript": " ".join(text for _s, _e, text in cues)}], "items": items}}


def s3_keys():
    return {o["Key"] for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket=BUCKET).get("Contents", [])}


def test_a_job_is_started_followed_by_list_read_back_and_cleaned_up(app, client, conn, services, transcribe,
                                                                    library_root, speech_media):
    folder = library_with(library_root, speech_media)
    shutil.copy2(speech_media.spoken.path, folder / "second.mp4")
    ids = import_library(client, folder)
    estimate = client.post("/api/transcripts/estimate", json={"all": True}).get_json()
    assert estimate["backend"] == "aws" and estimate["cost_usd"] == estimate["aws_cost_usd"] > 0
    request_transcripts(client, {"all": True})
    by_file = {j["file_id"]: j for j in jobs(conn)}
    first, second = by_file[ids["walkthrough.mp4"]], by_file[ids["second.mp4"]]
    assert s3_keys() == {first["media_key"], second["media_key"]}  # the FLAC extracts, staged in S3
    now = datetime.now(timezone.utc)
    for job in jobs(conn):
        expect_start(transcribe, job)
    started = process_transcripts_once(conn, services, now)
    assert started["submit"]["submitted"] == 2 and started["refresh"]["checked"] == 0  # just started: not due

    # One list walk answers for both jobs (two pages here); no Get per job.
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=first["output_key"], Body=json.dumps(transcribe_output(first, speech_media.spoken.cues)))
    transcribe.add_response("list_transcription_jobs", {
        "TranscriptionJobSummaries": [summary(first["job_name"], "COMPLETED", LanguageCode="en-US"),
                                      summary("mktx-f99-other-installation", "IN_PROGRESS")],
        "NextToken": "page-2"}, expected_params={"JobNameContains": "mktx-", "MaxResults": 100})
    transcribe.add_response("list_transcription_jobs", {
        "TranscriptionJobSummaries": [summary(second["job_name"], "IN_PROGRESS")]},
        expected_params={"JobNameContains": "mktx-", "MaxResults": 100, "NextToken": "page-2"})
    later = process_transcripts_once(conn, services, now + timedelta(seconds=60))
    assert later["refresh"]["checked"] == 2 and later["refresh"]["listed"] == 3
    assert later["ingest"]["ingested"] == 1 and later["errors"] == []

    body = transcript_of(client, ids["walkthrough.mp4"])
    transcript = body["transcript"]
    assert transcript["source"] == "aws" and transcript["language"] == "en-US"
    assert transcript["language_score"] == pytest.approx(0.97)
    lines = [(s["speaker"], s["text"]) for s in transcript["segments"]]
    assert lines == [("spk_0", "Welcome to the site walk-through of line four."),
                     ("spk_1", "The torque wrench calibration is overdue."),
                     ("spk_0", "Please check the conveyor belt tension before Friday.")]
    assert transcript["speaker_count"] == 2
    billed = max(first["audio_seconds"], 15)
    assert transcript["cost_usd"] == pytest.approx(billed / 60 * 0.006, abs=1e-6)
    assert body["job"]["status"] == "COMPLETED" and body["job"]["cost_usd"] == transcript["cost_usd"]
    assert s3_keys() == {second["media_key"]}  # the first job's audio and output are gone
    hit = client.get("/api/search", query_string={"q": "calibration"}).get_json()["items"][0]["hits"][0]
    assert hit["field"] == "transcript" and hit["start_seconds"] == transcript["segments"][1]["start_seconds"]

    # A failed job keeps its reason; its audio is removed too.
    transcribe.add_response("get_transcription_job", described(
        second, "FAILED", FailureReason="Unsupported audio format: the media has too many channels."),
        expected_params={"TranscriptionJobName": second["job_name"]})
    failed = process_transcripts_once(conn, services, now + timedelta(seconds=120))
    assert failed["refresh"]["failed"] == 1
    assert "too many channels" in failed["refresh"]["failures"][0]
    job = {j["id"]: j for j in jobs(conn)}[second["id"]]
    assert job["status"] == "FAILED" and job["failure_reason"].startswith("Unsupported audio format")
    assert job["cost_usd"] == 0 and s3_keys() == set()
    assert transcript_of(client, ids["second.mp4"])["job"]["failure_reason"] == job["failure_reason"]
    transcribe.assert_no_pending_responses()


class Crash(BaseException):
    """The process dies here (a SIGKILL would not run any except clause either)."""


def test_a_crash_after_starting_is_healed_by_looking_the_name_up_not_by_a_second_start(
        app, client, conn, services, transcribe, library_root, speech_media, monkeypatch):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    expect_start(transcribe, job)

    def crash(name):
        if name == "after_transcribe_start":
            raise Crash()

    monkeypatch.setattr(process, "crashpoint", crash)
    with pytest.raises(Crash):
        process_transcripts_once(conn, services, force=True)
    after_crash = jobs(conn)[0]
    assert after_crash["status"] == "QUEUED" and after_crash["create_uncertain"] == 1
    monkeypatch.undo()
    # The restarted app asks for the job by its name first: it exists, so no start call is made (the Stubber
    # has none queued: a start would fail the test).
    transcribe.add_response("get_transcription_job", described(job, "IN_PROGRESS"),
                            expected_params={"TranscriptionJobName": job["job_name"]})
    healed = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert healed["submit"] == {**healed["submit"], "healed": 1, "submitted": 0}
    job = jobs(conn)[0]
    assert job["status"] == "IN_PROGRESS" and job["create_uncertain"] == 0 and job["submit_attempts"] == 1
    transcribe.assert_no_pending_responses()


def test_a_set_language_is_sent_instead_of_identification_and_speaker_labels_can_be_off(app_config, library_root,
                                                                                         speech_media):
    from app import create_app

    app = create_app({**app_config, "TRANSCRIBE_LANGUAGE": "en-GB", "TRANSCRIBE_SPEAKER_LABELS": False})
    app.extensions["services"].tasks.start()
    stub = Stubber(app.extensions["services"].transcriber.client)
    stub.activate()
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        client = app.test_client()
        ids = import_library(client, library_with(library_root, speech_media))
        request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]], "language": "de-DE"})
        job = jobs(conn)[0]
        stub.add_response("start_transcription_job", {"TranscriptionJob": {
            "TranscriptionJobName": job["job_name"], "TranscriptionJobStatus": "QUEUED"}}, expected_params={
            "TranscriptionJobName": job["job_name"], "Media": {"MediaFileUri": media_uri(job)}, "MediaFormat": "flac",
            "OutputBucketName": BUCKET, "OutputKey": job["output_key"], "LanguageCode": "de-DE"})
        outcome = process_transcripts_once(conn, app.extensions["services"], force=True, status_checks="none")
        assert outcome["submit"]["submitted"] == 1
        stub.assert_no_pending_responses()
    finally:
        conn.close()
        stub.deactivate()
        app.extensions["services"].tasks.stop(timeout=30)


def test_a_name_conflict_on_start_adopts_the_existing_job(app, client, conn, services, transcribe, library_root,
                                                          speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    transcribe.add_client_error("start_transcription_job", "ConflictException",
                                "A resource already exists with this name.", http_status_code=409)
    transcribe.add_response("get_transcription_job", described(job, "COMPLETED"))
    outcome = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert outcome["submit"]["healed"] == 1
    assert jobs(conn)[0]["status"] == "FETCHING"


def test_throttling_defers_the_start_and_a_later_pass_retries_it(app, client, conn, services, transcribe,
                                                                library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    now = datetime.now(timezone.utc)
    transcribe.add_client_error("start_transcription_job", "LimitExceededException", "Rate exceeded",
                                http_status_code=400)
    deferred = process_transcripts_once(conn, services, now, status_checks="none")
    assert deferred["submit"]["deferred"] == 1 and deferred["errors"] == []
    row = jobs(conn)[0]
    assert row["status"] == "QUEUED" and row["create_uncertain"] == 0  # a throttled start made nothing
    assert "Rate exceeded" in row["last_error"] and row["next_attempt_at"] > now.isoformat()
    waiting = process_transcripts_once(conn, services, now + timedelta(seconds=5), status_checks="none")
    assert waiting["submit"]["submitted"] == 0  # not due yet: no call (the Stubber has none queued)
    expect_start(transcribe, job)
    retried = process_transcripts_once(conn, services, now + timedelta(minutes=5), status_checks="none")
    assert retried["submit"]["submitted"] == 1 and jobs(conn)[0]["status"] == "SUBMITTED"
    transcribe.assert_no_pending_responses()


def test_a_server_fault_on_start_looks_the_name_up_before_starting_again(app, client, conn, services, transcribe,
                                                                         library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    transcribe.add_client_error("start_transcription_job", "InternalFailureException", "boom", http_status_code=500)
    process_transcripts_once(conn, services, force=True, status_checks="none")
    assert jobs(conn)[0]["create_uncertain"] == 1  # a 5xx may hide a started job
    transcribe.add_client_error("get_transcription_job", "BadRequestException",
                                "The requested job couldn't be found. Check the job name and try again.")
    expect_start(transcribe, job)
    outcome = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert outcome["submit"]["submitted"] == 1
    transcribe.assert_no_pending_responses()


def test_a_refused_start_fails_the_job_with_the_reason(app, client, conn, services, transcribe, library_root,
                                                       speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    transcribe.add_client_error("start_transcription_job", "BadRequestException",
                                "The S3 URI can't be accessed. Check the permissions.")
    outcome = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert outcome["submit"]["failed"] == 1 and "can't be accessed" in outcome["submit"]["failures"][0]
    job = jobs(conn)[0]
    assert job["status"] == "FAILED" and "can't be accessed" in job["failure_reason"]
    assert s3_keys() == set()


def test_status_checks_follow_the_interval_and_survive_throttling(app, client, conn, services, transcribe,
                                                                  library_root, speech_media):
    folder = library_with(library_root, speech_media)
    shutil.copy2(speech_media.spoken.path, folder / "second.mp4")
    import_library(client, folder)
    request_transcripts(client, {"all": True})
    first, second = jobs(conn)
    now = datetime.now(timezone.utc)
    expect_start(transcribe, first)
    expect_start(transcribe, second)
    process_transcripts_once(conn, services, now)
    # Within BATCH_CHECK_INTERVAL (30 s) of the last check: nothing is asked.
    assert process_transcripts_once(conn, services, now + timedelta(seconds=10))["refresh"]["checked"] == 0
    # The list is throttled: each job is asked for by name; a throttled Get is tried again next time.
    transcribe.add_client_error("list_transcription_jobs", "LimitExceededException", "Rate exceeded")
    transcribe.add_response("get_transcription_job", described(first, "IN_PROGRESS"))
    transcribe.add_client_error("get_transcription_job", "LimitExceededException", "Rate exceeded")
    outcome = process_transcripts_once(conn, services, now + timedelta(seconds=40))["refresh"]
    assert outcome["checked"] == 1 and outcome["errors"] == 1 and outcome["failed"] == 0
    assert [j["status"] for j in jobs(conn)] == ["IN_PROGRESS", "SUBMITTED"]
    assert "Rate exceeded" in jobs(conn)[1]["last_error"]
    # A job the service no longer knows fails with the reason instead of being asked about forever.
    transcribe.add_response("list_transcription_jobs", {"TranscriptionJobSummaries": [
        summary(first["job_name"], "IN_PROGRESS")]})
    transcribe.add_client_error("get_transcription_job", "NotFoundException", "The job was not found.")
    outcome = process_transcripts_once(conn, services, now + timedelta(seconds=80))["refresh"]
    assert outcome["failed"] == 1 and "can no longer be read" in jobs(conn)[1]["failure_reason"]
    transcribe.assert_no_pending_responses()


def test_over_the_concurrency_limit_jobs_wait_in_the_queue(app_config, library_root, speech_media):
    from app import create_app

    app = create_app({**app_config, "TRANSCRIBE_MAX_CONCURRENT_JOBS": 1})
    app.extensions["services"].tasks.start()
    stub = Stubber(app.extensions["services"].transcriber.client)
    stub.activate()
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        client = app.test_client()
        folder = library_with(library_root, speech_media)
        shutil.copy2(speech_media.spoken.path, folder / "second.mp4")
        import_library(client, folder)
        request_transcripts(client, {"all": True})
        first, second = jobs(conn)
        expect_start(stub, first)
        outcome = process_transcripts_once(conn, app.extensions["services"], force=True, status_checks="none")
        assert outcome["submit"]["submitted"] == 1 and outcome["submit"]["waiting_for_slot"] == 1
        assert [j["status"] for j in jobs(conn)] == ["SUBMITTED", "QUEUED"]
        stub.assert_no_pending_responses()
    finally:
        conn.close()
        stub.deactivate()
        app.extensions["services"].tasks.stop(timeout=30)


def test_output_that_is_not_a_transcript_fails_the_job(app, client, conn, services, transcribe, library_root,
                                                       speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    expect_start(transcribe, job, status="COMPLETED")
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=job["output_key"], Body=b"{not json")
    outcome = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert outcome["ingest"]["fetch_failed"] == 1
    assert "not JSON" in jobs(conn)[0]["failure_reason"]
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"] is None


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_kwargs):
        yield self.body


def test_a_missing_output_is_retried_then_fails_with_the_reason(app, client, conn, services, transcribe,
                                                                library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = jobs(conn)[0]
    expect_start(transcribe, job, status="COMPLETED")  # finished at once, but its output never arrives
    first = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert first["ingest"]["retrying"] == 1 and jobs(conn)[0]["status"] == "FETCHING"
    assert jobs(conn)[0]["next_attempt_at"] is not None
    second = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert second["ingest"]["retrying"] == 1
    third = process_transcripts_once(conn, services, force=True, status_checks="none")
    assert third["ingest"]["fetch_failed"] == 1  # BATCH_RESULT_FETCH_MAX_RETRIES (3) reads
    row = jobs(conn)[0]
    assert row["status"] == "FAILED" and "could not be read" in row["failure_reason"] and row["fetch_attempts"] == 3


def test_the_client_retries_limit_exceeded_as_throttling(monkeypatch, tmp_path):
    """botocore's legacy retry mode (its default) would not retry LimitExceededException for Transcribe; the
    app's client does. The answers come from a before-send hook, so botocore's own retry loop runs."""
    from botocore.awsrequest import AWSResponse

    fake_aws_env(monkeypatch, tmp_path)
    transcriber = AwsTranscriber(region="us-east-1")
    answers = [(400, {"__type": "LimitExceededException", "Message": "Rate exceeded"}),
               (200, {"TranscriptionJob": {"TranscriptionJobName": "mktx-f1-a", "TranscriptionJobStatus": "QUEUED"}})]
    sent = []

    def answer(request, **_kwargs):
        sent.append(request.url)
        status, body = answers.pop(0)
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"},
                           _Raw(json.dumps(body).encode()))

    transcriber.client.meta.events.register("before-send.transcribe.GetTranscriptionJob", answer)
    info = transcriber.get_job("mktx-f1-a")
    assert info.status == "QUEUED" and len(sent) == 2
