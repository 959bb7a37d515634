"""Estimates that learn: the documented rates first, then what this model really used here."""
from __future__ import annotations

import pytest

from app.db import analysis as analysis_db
from app.db import connect, migrate, transaction
from app.db import files as files_db
from app.nova.catalog import load_catalog
from app.nova.estimate import estimate_tokens
from app.services.estimates import DOCUMENTED, MIN_RUNS, Estimator
from batch_support import data_dir, seeded_template  # noqa: F401
from helpers import wait_for_task

LITE = load_catalog().get("lite")


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "app.db")
    migrate(connection)
    yield connection
    connection.close()


def answered(conn, index: int, *, seconds: float, tokens_in: int, tokens_out: int, media: str = "video",
             analysis_type: str = "combined", model=LITE) -> None:
    """A file with one completed result of the model, using these tokens."""
    with transaction(conn):
        file_id = files_db.insert_file(conn, {
            "path": f"/lib/{index}.{'mp4' if media == 'video' else 'jpg'}", "folder": "/lib", "name": f"{index}",
            "size_bytes": 1, "mtime": 0, "fingerprint": f"f{index}", "media_type": media, "status": "ready",
            "duration_seconds": seconds if media == "video" else None, "width": 640, "height": 480})
        run_id = analysis_db.insert_run(conn, file_id=file_id, mode="on_demand", model_key=model.key,
                                        model_id=model.model_id, analysis_types=[analysis_type], options={},
                                        prompt_version="t")
        analysis_db.store_result(conn, run_id, analysis_type, result={"x": 1}, tokens_input=tokens_in,
                                 tokens_output=tokens_out, cost_usd=0, truncated=False, stop_reason=None,
                                 warnings=[])


def test_without_enough_runs_the_documented_rates_are_used(conn):
    for i in range(MIN_RUNS - 1):
        answered(conn, i, seconds=60, tokens_in=20_000, tokens_out=800)
    got = Estimator(conn, LITE).estimate("video", ["combined"], duration_seconds=30, width=640, height=480,
                                         summary_depth="standard")
    prior = estimate_tokens("video", duration_seconds=30, analysis_types=["combined"])
    assert got == (*prior, DOCUMENTED)


def test_the_estimator_moves_to_the_observed_mean(conn):
    for i, (seconds, tokens_in, tokens_out) in enumerate([(60, 20_000, 700), (120, 40_000, 900), (30, 10_000, 800)]):
        answered(conn, i, seconds=seconds, tokens_in=tokens_in, tokens_out=tokens_out)
    answered(conn, 10, seconds=60, tokens_in=99_999, tokens_out=99_999, model=load_catalog().get("pro"))  # other model
    answered(conn, 11, seconds=0, tokens_in=1_000, tokens_out=120, media="image", analysis_type="description")
    estimator = Estimator(conn, LITE)
    tokens_in, tokens_out, basis = estimator.estimate("video", ["combined"], duration_seconds=90, width=640,
                                                      height=480, summary_depth="standard")
    assert basis == "from 3 earlier runs"
    assert tokens_out == 800  # the mean of 700, 900 and 800
    assert tokens_in == 30_000  # 70,000 tokens over 210 seconds, for 90 seconds
    # A long video is counted up to the span the model samples in full (its frame cap at 1 fps).
    long_in, _, _ = estimator.estimate("video", ["combined"], duration_seconds=36_000, width=640, height=480,
                                       summary_depth="standard")
    assert long_in == round(70_000 / 210 * LITE.max_video_frames)


def test_a_second_submission_of_similar_files_is_estimated_within_25_percent(client):
    body = {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "on_demand"}
    first = client.post("/api/nova/estimate", json=body).get_json()
    assert first["basis"] == [DOCUMENTED]
    task = client.post("/api/nova/analyze", json=body).get_json()
    assert wait_for_task(client, task["task_id"], timeout=300)["status"] == "SUCCEEDED"
    again = client.post("/api/nova/estimate", json=body).get_json()
    assert again["basis"] == ["from 3 earlier runs"]
    assert {f["basis"] for f in again["files"]} == {"from 3 earlier runs"}
    second = client.post("/api/batch/nova", json=body).get_json()
    estimated = second["estimate"]["on_demand"]["input_tokens"] + second["estimate"]["on_demand"]["output_tokens"]
    assert wait_for_task(client, second["on_demand"]["task_id"], timeout=300)["status"] == "SUCCEEDED"
    runs = [client.get(f"/api/files/{f['file_id']}/analyses").get_json()["items"][0] for f in second["files"]]
    actual = sum(r["tokens_input"] + r["tokens_output"] for r in runs)
    assert abs(estimated - actual) <= 0.25 * actual
    first_total = first["planned"]["on_demand"]["input_tokens"] + first["planned"]["on_demand"]["output_tokens"]
    assert abs(estimated - actual) < abs(first_total - actual)  # it learned


def test_the_usage_report_shows_each_submissions_estimate_error_and_the_running_mean(client):
    body = {"filter": {"media_type": "video"}, "analysis_types": ["combined"], "mode": "on_demand"}
    for _ in range(2):
        batch = client.post("/api/batch/nova", json=body).get_json()
        assert wait_for_task(client, batch["on_demand"]["task_id"], timeout=300)["status"] == "SUCCEEDED"
        client.post("/api/nova/batch/poller/process-completed", json={})  # rolls the submission up
    report = client.get("/api/usage").get_json()["submissions"]
    newest, oldest = report["items"][0], report["items"][1]
    assert newest["estimate_error_by"] == "tokens"  # the local analyser costs nothing
    assert oldest["estimate_error_pct"] is not None and abs(newest["estimate_error_pct"]) <= 25
    error = report["estimate_error"]
    assert error["submissions"] == 2 and len(error["running"]) == 2
    assert error["running"][0] == abs(oldest["estimate_error_pct"])
