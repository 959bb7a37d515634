"""Transcription requests with the offline stand-in (TRANSCRIBE_BACKEND=local): the estimate, the task that
stages audio, the poller's pass, the stand-in's honest answer (stretches of sound, no words), limits, the
concurrency queue, cleanup, the usage report and the CLI. The AWS path is tested in test_transcripts_aws.py."""
from __future__ import annotations

import shutil

import pytest

from app.config import ConfigError, load_settings
from app.db import connect
from app.inference.transcribe import local_store
from app.services.poller import BatchPoller
from app.services.transcripts import staging
from media_factory import make_test_video
from transcript_support import (drive, import_library, library_with, request_transcripts, speech_media,  # noqa: F401
                                transcript_of)


@pytest.fixture
def conn(app):
    connection = connect(app.config["SETTINGS"].DATABASE_PATH)
    yield connection
    connection.close()


def _jobs(conn):
    return [dict(r) for r in conn.execute("SELECT * FROM transcription_jobs ORDER BY id")]


def test_the_estimate_counts_audio_minutes_at_the_price_per_minute(client, library_root, speech_media, sample_media):
    shutil.copy2(sample_media / "car-detection.mp4", library_with(library_root, speech_media) / "car.mp4")
    shutil.copy2(sample_media / "kiwi.jpg", library_root / "talks" / "kiwi.jpg")
    ids = import_library(client, library_root / "talks")
    estimate = client.post("/api/transcripts/estimate", json={"all": True}).get_json()
    assert estimate["backend"] == "local" and estimate["files"] == 3 and estimate["to_transcribe"] == 2
    assert estimate["skipped"] == {"not_video": 1}
    rows = client.get("/api/files", query_string={"media_type": "video"}).get_json()["items"]
    seconds = sum(r["duration_seconds"] for r in rows)
    assert estimate["audio_seconds"] == pytest.approx(seconds, abs=0.01)
    # Amazon Transcribe's price with 15 s billed at least a file; the stand-in costs nothing.
    assert estimate["aws_cost_usd"] == pytest.approx(sum(max(r["duration_seconds"], 15) for r in rows) / 60 * 0.006,
                                                     abs=1e-6)
    assert estimate["cost_usd"] == 0
    one = client.post("/api/transcripts/estimate", json={"file_ids": [ids["walkthrough.mp4"]]}).get_json()
    assert one["to_transcribe"] == 1


def test_the_stand_in_reports_stretches_of_sound_and_no_words(app, client, conn, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    result = request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    assert result["task"]["counters"]["queued"] == 1
    job = _jobs(conn)[0]
    assert job["status"] == "QUEUED" and job["job_name"].startswith("mktx-f")
    assert job["media_format"] == "flac" and job["audio_seconds"] == pytest.approx(13.8, abs=0.3)
    store = app.extensions["services"].store
    assert store.exists(job["media_key"])  # the audio extract is staged in the object store
    outcomes = drive(app)
    assert outcomes[0]["submit"]["submitted"] == 1 and outcomes[1]["ingest"]["ingested"] == 1
    body = transcript_of(client, ids["walkthrough.mp4"])
    transcript = body["transcript"]
    assert transcript["source"] == "local" and transcript["text"] == "" and transcript["cost_usd"] == 0
    assert "does not recognise speech" in transcript["note"] and "TRANSCRIBE_BACKEND=aws" in transcript["note"]
    sounds = [(s["start_seconds"], s["end_seconds"]) for s in transcript["segments"]]
    assert len(sounds) == len(speech_media.spoken.cues) and all(s["text"] == "" for s in transcript["segments"])
    for (start, end), (said_from, said_to, _text) in zip(sounds, speech_media.spoken.cues):
        assert start < said_to and said_from < end  # each sentence is where a stretch of sound was measured
    assert body["job"]["status"] == "COMPLETED" and not body["job"]["active"]
    assert not store.exists(job["media_key"]) and not store.exists(job["output_key"])  # cleaned once stored
    assert client.get("/api/search", query_string={"q": "calibration"}).get_json()["total"] == 0


def test_subtitles_are_used_instead_of_a_job_unless_asked_to_transcribe_anyway(app, client, conn, library_root,
                                                                               speech_media):
    folder = library_with(library_root, speech_media)
    ids = import_library(client, folder)
    shutil.copy2(speech_media.srt, folder / "walkthrough.srt")  # arrives after the import's pickup
    result = request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    assert result["skipped"] == {"subtitles": 1} and result["to_transcribe"] == 0
    assert result["task"]["counters"] == {"queued": 0, "subtitles": 1}
    assert _jobs(conn) == []
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"]["source"] == "sidecar"
    # Already transcribed: a second request has nothing to do unless forced.
    refused = client.post("/api/transcripts", json={"file_ids": [ids["walkthrough.mp4"]]})
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "nothing_to_transcribe"
    # Forced, the stand-in still cannot beat real subtitles: they are kept, no job is made.
    forced = request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]], "force": True})
    assert forced["task"]["counters"]["subtitles"] == 1 and _jobs(conn) == []


def test_videos_without_audio_and_images_are_skipped_with_the_reason(client, library_root, sample_media):
    folder = library_root / "quiet"
    folder.mkdir()
    shutil.copy2(sample_media / "bottle-detection.mp4", folder / "silent.mp4")  # no audio track
    shutil.copy2(sample_media / "kiwi.jpg", folder / "kiwi.jpg")
    import_library(client, folder)
    estimate = client.post("/api/transcripts/estimate", json={"all": True}).get_json()
    assert estimate["to_transcribe"] == 0 and estimate["skipped"] == {"no_audio": 1, "not_video": 1}
    assert "1 file(s): no audio track" in estimate["reasons"]
    response = client.post("/api/transcripts", json={"all": True})
    assert response.status_code == 422


def test_limits_fail_the_file_with_the_reason(app, client, conn, library_root, speech_media, monkeypatch):
    folder = library_with(library_root, speech_media)
    make_test_video(folder / "blip.mp4", seconds=0.3, audio_channels=1)
    ids = import_library(client, folder)
    # Longer than Transcribe's 4 h: refused before any audio is extracted.
    conn.execute("UPDATE files SET duration_seconds = 20000 WHERE id = ?", (ids["walkthrough.mp4"],))
    conn.commit()
    estimate = client.post("/api/transcripts/estimate", json={"all": True}).get_json()
    assert estimate["skipped"] == {"too_long": 1, "too_short": 1}
    result = client.post("/api/transcripts", json={"file_ids": [ids["walkthrough.mp4"]], "force": True})
    assert result.status_code == 422  # nothing transcribable
    conn.execute("UPDATE files SET duration_seconds = 13 WHERE id = ?", (ids["walkthrough.mp4"],))
    conn.commit()
    # Over the size limit once extracted: the job fails with the reason, nothing is uploaded.
    monkeypatch.setattr(staging, "MAX_MEDIA_BYTES", 1000)
    result = request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    failed = result["task"]["failed"]
    assert len(failed) == 1 and "at most 1000 bytes" in failed[0]["reason"]
    job = _jobs(conn)[0]
    assert job["status"] == "FAILED" and "at most 1000 bytes" in job["failure_reason"]
    assert not app.extensions["services"].store.exists(job["media_key"])
    body = transcript_of(client, ids["walkthrough.mp4"])
    assert body["transcript"] is None and body["job"]["failure_reason"] == job["failure_reason"]


def test_jobs_over_the_concurrency_limit_wait_their_turn(app_config, library_root, speech_media):
    from app import create_app

    app = create_app({**app_config, "TRANSCRIBE_MAX_CONCURRENT_JOBS": 1})
    app.extensions["services"].tasks.start()
    try:
        client = app.test_client()
        folder = library_with(library_root, speech_media)
        shutil.copy2(speech_media.spoken.path, folder / "second.mp4")
        import_library(client, folder)
        request_transcripts(client, {"all": True})
        first = drive(app, rounds=1)[0]
        assert first["submit"]["submitted"] == 1 and first["submit"]["waiting_for_slot"] == 1
        conn = connect(app.config["SETTINGS"].DATABASE_PATH)
        try:
            assert [j["status"] for j in _jobs(conn)] == ["SUBMITTED", "QUEUED"]
            drive(app, rounds=3)
            assert [j["status"] for j in _jobs(conn)] == ["COMPLETED", "COMPLETED"]
        finally:
            conn.close()
    finally:
        app.extensions["services"].tasks.stop(timeout=30)


def test_the_stand_in_fails_a_job_whose_media_it_cannot_read(app, client, conn, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    job = _jobs(conn)[0]
    app.extensions["services"].store.put_bytes(job["media_key"], b"not audio at all")
    outcomes = drive(app)
    assert any("media format" in f for o in outcomes for f in o.get("refresh", {}).get("failures", []))
    job = _jobs(conn)[0]
    assert job["status"] == "FAILED" and "media format" in job["failure_reason"] and job["cleaned_at"]
    assert transcript_of(client, ids["walkthrough.mp4"])["job"]["failure_reason"] == job["failure_reason"]


def test_the_stand_in_refuses_a_taken_job_name_and_answers_gets_and_lists(app, client, conn, library_root,
                                                                          speech_media):
    from app.inference.base import ConflictError, NotFoundError
    from app.services.transcripts.process import _request

    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    services = app.extensions["services"]
    row = conn.execute("SELECT * FROM transcription_jobs").fetchone()
    request = _request(services, row)
    started = services.transcriber.start_job(request)
    assert started.status == "QUEUED"
    with pytest.raises(ConflictError):
        services.transcriber.start_job(request)
    with pytest.raises(NotFoundError):
        services.transcriber.get_job("mktx-nope")
    assert [j.name for j in services.transcriber.list_jobs(name_contains="MKTX-")] == [request.name]
    assert local_store.get_job(conn, request.name)["media_uri"] == request.media_uri


def test_the_poller_runs_the_transcription_pass_and_counts_it(app, client, conn, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    services = app.extensions["services"]
    poller = BatchPoller(services, holder="test-poller")
    first = poller.run_once()
    assert first["pipelines"]["transcripts"]["submit"]["submitted"] == 1
    services.transcriber.run_once()
    poller.run_once(force=True, status_checks="all")
    status = poller.status()
    assert status["jobs_submitted"] >= 1 and status["jobs_completed"] >= 1 and status["results_fetched"] >= 1
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"]["source"] == "local"


def test_the_usage_report_shows_transcription_minutes(app, client, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    drive(app)
    report = client.get("/api/usage").get_json()["transcription"]
    assert report["jobs"] == 1 and report["completed"] == 1 and report["cost_usd"] == 0
    assert report["minutes"] == pytest.approx(13.8 / 60, abs=0.02)
    assert report["by_backend"][0]["backend"] == "local"


@pytest.mark.parametrize("body, code", [
    ({"file_ids": [1], "all": True}, "invalid_parameter"),
    ({"everything": True}, "invalid_parameter"),
    ({"all": True, "language": "english"}, "invalid_parameter"),
    ({"all": True, "force": "yes"}, "invalid_parameter"),
    ({}, "invalid_parameter"),
])
def test_bad_requests_are_400(client, body, code):
    response = client.post("/api/transcripts", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_the_cli_transcribes_with_a_progress_bar_and_waits(app, client, runner, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    result = runner.invoke(args=["transcribe", "--file-id", str(ids["walkthrough.mp4"]), "--wait",
                                 "--interval", "0"])
    assert result.exit_code == 0, result.output
    assert "1 to transcribe" in result.output and "transcribe succeeded" in result.output
    assert "jobs: 1 done, 0 failed, 0 running" in result.output
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"]["source"] == "local"
    nothing = runner.invoke(args=["transcribe", "--file-id", str(ids["walkthrough.mp4"])])
    assert nothing.exit_code == 0 and "Nothing to transcribe." in nothing.output


def test_transcribe_backend_aws_needs_s3():
    with pytest.raises(ConfigError, match="TRANSCRIBE_BACKEND=aws needs STORAGE_BACKEND=s3"):
        load_settings(environ={}, overrides={"TRANSCRIBE_BACKEND": "aws"})
    with pytest.raises(ConfigError, match="TRANSCRIBE_LANGUAGE"):
        load_settings(environ={"TRANSCRIBE_LANGUAGE": "English"})


def test_with_no_service_subtitles_still_count_and_the_rest_fail_with_the_reason(app_config, library_root,
                                                                                 speech_media):
    from app import create_app

    app = create_app({**app_config, "TRANSCRIBE_BACKEND": "none"})
    app.extensions["services"].tasks.start()
    try:
        client = app.test_client()
        folder = library_with(library_root, speech_media, mkv=True)
        ids = import_library(client, folder)
        assert transcript_of(client, ids["briefing.mkv"])["transcript"]["source"] == "subtitle_stream"
        estimate = client.post("/api/transcripts/estimate", json={"all": True}).get_json()
        assert estimate["backend"] == "none" and estimate["skipped"] == {"has_transcript": 1, "no_service": 1}
        response = client.post("/api/transcripts", json={"all": True})
        assert response.status_code == 422
    finally:
        app.extensions["services"].tasks.stop(timeout=30)


def test_a_file_deleted_while_its_job_runs_gets_no_transcript_and_its_objects_go(app, client, conn, library_root,
                                                                                speech_media):
    ids = import_library(client, library_with(library_root, speech_media))
    request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    drive(app, rounds=1)  # started
    assert client.delete(f"/api/files/{ids['walkthrough.mp4']}").status_code == 200
    drive(app)
    job = _jobs(conn)[0]
    assert job["status"] == "COMPLETED" and job["file_id"] is None and job["cleaned_at"]
    assert conn.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0] == 0
    store = app.extensions["services"].store
    assert not store.exists(job["media_key"]) and not store.exists(job["output_key"])


def test_a_job_left_staging_by_a_dead_task_is_staged_again_not_duplicated(app, client, conn, library_root,
                                                                          speech_media):
    from app.db import transaction
    from app.db import transcription_jobs as jobs_db
    from app.utils.clock import utcnow

    ids = import_library(client, library_with(library_root, speech_media))
    with transaction(conn):
        jobs_db.insert_job(conn, file_id=ids["walkthrough.mp4"], backend="local", job_name="mktx-f1-left-behind",
                           media_key="transcribe/input/mktx-f1-left-behind.flac",
                           output_key="transcribe/output/mktx-f1-left-behind.json", media_format="flac",
                           language_code=None, max_speakers=None, price_per_minute=0, task_id="dead", now=utcnow())
    result = request_transcripts(client, {"file_ids": [ids["walkthrough.mp4"]]})
    assert result["task"]["counters"]["queued"] == 1
    assert [(j["job_name"], j["status"]) for j in _jobs(conn)] == [("mktx-f1-left-behind", "QUEUED")]
