"""Long videos end to end, offline: analysed as segments on demand and in batch, merged into one result,
PARTIAL with the gap named when a segment fails, and a retry that asks only the failed segments again."""
from __future__ import annotations

import json

import pytest

from app.db import segments as segments_db
from app.inference.base import ThrottlingError
from app.services.batch.ingest import ingest_chunk
from app.services.batch.process import process_batches_once
from app.services.batch.tracking import refresh_active_chunks
from app.services.derivatives import derivative_dir
from app.services.estimates import Estimator
from app.services.segments import merging
from app.utils.clock import utc
from batch_support import conn, data_dir, seeded_template, wait_tasks  # noqa: F401
from conftest import SAMPLE_MEDIA
from helpers import import_folder, wait_for_task, wait_for_task_row
from long_media import loop_clip

LONG = "one-by-one-person-detection.mp4"  # 139.4 s: three segments of 60 s with 10 s overlap
SEGMENTS = {"segment_seconds": 60, "segment_overlap": 10}


@pytest.fixture
def max_files() -> int:
    return 150


@pytest.fixture
def min_records() -> int:
    return 1


@pytest.fixture
def app_config(app_config, max_files, min_records):
    return {**app_config, "LOCAL_BATCH_MIN_RECORDS": min_records, "LOG_LEVEL": "warning",
            "BATCH_MAX_FILES": max_files}


@pytest.fixture
def services(app):
    return app.extensions["services"]


@pytest.fixture
def long_id(client) -> int:
    return next(f["id"] for f in client.get("/api/files?per_page=100").get_json()["items"] if f["name"] == LONG)


class Calls:
    """Wraps the backend's invoke: records which segment each request was for; fails the ones asked to."""

    def __init__(self, services, monkeypatch):
        self.original = services.backend.invoke
        self.seen: list[str] = []
        self.fail: set[str] = set()
        monkeypatch.setattr(services.backend, "invoke", self.invoke)

    def invoke(self, model_id, request):
        text = request["messages"][0]["content"][-1]["text"]
        task = text.split("\n", 1)[0].removeprefix("Task: ")
        segment = next((line.removeprefix("- segment: ") for line in text.splitlines()
                        if line.startswith("- segment: ")), None)
        label = f"{task}@{segment}" if segment else task
        self.seen.append(label)
        if segment in self.fail or label in self.fail:
            raise ThrottlingError("refused on purpose")
        return self.original(model_id, request)


def latest_run(client, file_id: int) -> dict:
    return client.get(f"/api/files/{file_id}/analyses").get_json()["items"][0]


def drive(app, conn, services, batch_id: int, rounds: int = 12) -> dict:
    """Submit, run the local engine, ingest and wait for the merges until the submission is terminal."""
    body = {}
    for _ in range(rounds):
        outcome = process_batches_once(conn, services, force=True)
        assert outcome["errors"] == [], outcome
        for task_id in segments_db.queued_merge_tasks(conn, batch_id):
            assert wait_for_task_row(app, task_id)["status"] == "SUCCEEDED"
        body = app.test_client().get(f"/api/batch/{batch_id}").get_json()
        if body["status"] in ("COMPLETED", "PARTIAL", "FAILED", "CANCELLED"):
            return body
        services.backend.run_once()
    raise AssertionError(f"batch {batch_id} not finished: {body}")


def assert_sequential_inside(chapters: list[dict], duration: float) -> None:
    assert chapters
    assert all(0 <= c["start_seconds"] < c["end_seconds"] <= duration for c in chapters)
    assert all(a["end_seconds"] <= b["start_seconds"] for a, b in zip(chapters, chapters[1:]))


def test_a_long_video_on_demand_is_analysed_as_segments_and_merged_into_one_result(app, client, conn, services,
                                                                                    library_root, monkeypatch):
    # A 5-minute video made by looping a sample clip (remuxed, no big file in the repository).
    library = library_root / "long"
    library.mkdir()
    loop_clip(SAMPLE_MEDIA / "bottle-detection.mp4", library / "looped walk.mp4", 8)
    job = import_folder(client, library)
    wait_for_task(client, job["result"]["proxies_task_id"])
    file = next(f for f in client.get("/api/files?per_page=100").get_json()["items"] if f["name"] == "looped walk.mp4")
    calls = Calls(services, monkeypatch)
    response = client.post("/api/nova/analyze", json={"file_ids": [file["id"]], "analysis_types": ["combined"],
                                                      "options": {"segment_seconds": 120}})
    assert response.status_code == 202, response.get_json()
    assert wait_for_task(client, response.get_json()["task_id"])["status"] == "SUCCEEDED"
    run = latest_run(client, file["id"])
    duration = client.get(f"/api/files/{file['id']}").get_json()["duration_seconds"]
    assert run["status"] == "COMPLETED" and run["error"] is None
    assert (run["segment_seconds"], run["segment_overlap"]) == (120, 10)
    assert [(s["index"], s["start"], s["status"]) for s in run["segments"]] == [
        (0, 0.0, "COMPLETED"), (1, 110.0, "COMPLETED"), (2, 220.0, "COMPLETED")]
    assert run["segments"][-1]["end"] == pytest.approx(duration, abs=0.1)
    # Three segment requests and one text-only summary merge, nothing else.
    assert sorted(calls.seen) == ["combined@1 of 3", "combined@2 of 3", "combined@3 of 3", "summary_merge"]
    results = run["results"]
    assert set(results) == {"summary", "chapters", "elements", "waterfall_classification", "search_metadata"}
    assert_sequential_inside(results["chapters"]["chapters"], duration)
    assert results["chapters"]["chapters"][-1]["end_seconds"] == pytest.approx(duration, abs=0.1)
    assert "assembled from the summaries of 3 of the 3 segments" in results["summary"]["text"]
    assert client.get(f"/api/files/{file['id']}").get_json()["analysis"]["status"] == "completed"
    # Searchable like any analysis: a word only the merged summary has.
    hits = client.get("/api/search?q=assembled").get_json()
    assert file["id"] in [item["file"]["id"] for item in hits["items"]]
    # Later estimates learn from the segments' answers (each with its own length), not from the merged result.
    tokens, _, basis = Estimator(conn, services.catalog.get("local-analyzer")).estimate(
        "video", ["combined"], duration_seconds=120.0, width=640, height=360, summary_depth="standard")
    assert basis == "from 3 earlier runs"
    seen = conn.execute("SELECT SUM(tokens_input), SUM(s.end_seconds - s.start_seconds) FROM analysis_segment_results"
                        " sr JOIN analysis_segments s USING (run_id, segment_index)").fetchone()
    assert tokens == pytest.approx(seen[0] / seen[1] * 120.0, abs=1)
    # Merging again changes nothing.
    assert merging.merge_run_type(services, conn, run["id"], "combined") is False
    assert latest_run(client, file["id"])["results"] == results
    # The pieces live beside the proxy and go with it.
    pieces = derivative_dir(services.settings, file["id"]) / "segments" / "120s-10s"
    assert sorted(p.name for p in pieces.glob("[!.]*")) == ["manifest.json", "seg000.mp4", "seg001.mp4",
                                                             "seg002.mp4"]
    deleted = client.delete(f"/api/files/{file['id']}").get_json()
    assert "segments" in deleted["derivatives_removed"] and not pieces.exists()


def test_a_failed_middle_segment_leaves_a_partial_run_naming_the_gap_and_retry_asks_only_it(app, client, conn,
                                                                                            services, long_id,
                                                                                            monkeypatch):
    calls = Calls(services, monkeypatch)
    calls.fail = {"2 of 3"}
    response = client.post("/api/batch/nova", json={"file_ids": [long_id], "analysis_types": ["chapters", "summary"],
                                                    "mode": "on_demand", "options": SEGMENTS})
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert batch["plan"]["segmented"][0]["segments"] == 3
    wait_tasks(app, batch)
    shown = client.get(f"/api/batch/{batch['id']}").get_json()
    assert shown["status"] == "PARTIAL" and shown["records"] == {"completed": 4, "failed": 2, "pending": 0}
    run = latest_run(client, long_id)
    assert run["status"] == "PARTIAL"
    assert [s["status"] for s in run["segments"]] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert run["error"]["code"] == "segments_missing"
    assert "missing 1:00–1:40 of 2:19" in run["error"]["message"]
    assert "segment 2 of 3 (0:50–1:50) failed: refused on purpose" in run["error"]["message"]
    chapters = run["results"]["chapters"]["chapters"]
    assert_sequential_inside(chapters, 139.4)
    assert not any(60 < c["start_seconds"] < 100 for c in chapters)  # nothing invented for the gap
    assert "1:00–1:40" in run["results"]["summary"]["text"]  # the merged summary names what is missing
    assert client.get(f"/api/files/{long_id}").get_json()["analysis"]["status"] == "completed"
    hits = client.get("/api/search?q=assembled").get_json()["items"]  # a PARTIAL result is searchable
    assert long_id in [item["file"]["id"] for item in hits]

    calls.fail, calls.seen = set(), []
    response = client.post(f"/api/batch/{batch['id']}/retry-failed", json={})
    assert response.status_code == 201, response.get_json()
    retry = response.get_json()
    assert retry["retry_of"] == batch["id"] and retry["records_total"] == 2
    wait_tasks(app, retry)
    assert sorted(calls.seen) == ["chapters@2 of 3", "summary@2 of 3", "summary_merge"]
    again = latest_run(client, long_id)
    assert again["id"] != run["id"] and again["status"] == "COMPLETED" and again["error"] is None
    assert [s["status"] for s in again["segments"]] == ["COMPLETED"] * 3
    assert_sequential_inside(again["results"]["chapters"]["chapters"], 139.4)
    assert client.get(f"/api/batch/{retry['id']}").get_json()["status"] == "COMPLETED"


@pytest.mark.parametrize("max_files", [2])  # two media objects per job: segments 1-2, then 3
def test_a_file_whose_segments_span_two_chunks_survives_one_chunk_failing(app, client, conn, services, long_id):
    response = client.post("/api/batch/nova", json={"file_ids": [long_id], "analysis_types": ["chapters"],
                                                    "mode": "batch", "options": SEGMENTS})
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert [(c["files"], c["records_total"]) for c in batch["chunks"]] == [(1, 2), (1, 1)]
    wait_tasks(app, batch)
    first, second = batch["chunks"]
    staged = [o.key for o in services.store.list(second["staging_folder"] + "files/")]
    assert len(staged) == 1 and staged[0].endswith("-seg002.mp4")
    with services.store.open_read(conn.execute("SELECT manifest_key FROM chunks WHERE id = ?",
                                               (second["id"],)).fetchone()[0]) as stream:
        record = json.loads(stream.readline())
    assert record["recordId"] == segments_db.segment_record_id_for(latest_run(client, long_id)["id"], "chapters", 2)
    assert "- segment: 3 of 3\n- segment_start_seconds: 100.00" in record["modelInput"]["messages"][0]["content"][1][
        "text"]
    services.store.delete_many(staged)  # the second job answers its one record with an error line

    shown = drive(app, conn, services, batch["id"])
    assert [c["status"] for c in shown["chunks"]] == ["COMPLETED", "FAILED"]
    assert shown["status"] == "PARTIAL"
    run = latest_run(client, long_id)
    assert run["status"] == "PARTIAL" and [s["status"] for s in run["segments"]] == ["COMPLETED", "COMPLETED",
                                                                                   "FAILED"]
    assert "missing 1:50–2:19 of 2:19" in run["error"]["message"]
    assert_sequential_inside(run["results"]["chapters"]["chapters"], 110.0)

    retry = client.post(f"/api/batch/{batch['id']}/retry-failed", json={}).get_json()
    assert retry["records_total"] == 1 and len(retry["chunks"]) == 1
    wait_tasks(app, retry)
    shown = drive(app, conn, services, retry["id"])
    assert shown["status"] == "COMPLETED"
    again = latest_run(client, long_id)
    assert again["status"] == "COMPLETED"
    assert again["results"]["chapters"]["chapters"][-1]["end_seconds"] == pytest.approx(139.4, abs=0.1)


@pytest.mark.parametrize("max_files", [2])
def test_a_segment_record_is_accepted_only_from_its_own_chunk(app, client, conn, services, long_id):
    batch = client.post("/api/batch/nova", json={"file_ids": [long_id], "analysis_types": ["chapters"],
                                                 "mode": "batch", "options": SEGMENTS}).get_json()
    wait_tasks(app, batch)
    process_batches_once(conn, services, force=True)
    services.backend.run_once()
    refresh_active_chunks(conn, services, utc(), force=True)
    first, second = batch["chunks"]
    keys = {}
    for chunk in (first, second):
        row = conn.execute("SELECT output_prefix, job_id FROM chunks WHERE id = ?", (chunk["id"],)).fetchone()
        keys[chunk["id"]] = next(o.key for o in services.store.list(f"{row[0]}{row[1]}/")
                                 if o.key.endswith(".jsonl.out"))
    with services.store.open_read(keys[first["id"]]) as stream:
        stray = stream.readline()
    with services.store.open_read(keys[second["id"]]) as stream:
        own = stream.read()
    services.store.put_bytes(keys[second["id"]], own + stray)  # chunk 1's segment line in chunk 2's output
    result = ingest_chunk(conn, services, second["id"])
    assert result["stats"]["unknown_records"] == 1 and result["stats"]["stored"] == 1, result
    assert result["status"] == "COMPLETED"


@pytest.mark.parametrize("options, parameter", [
    ({"segment_seconds": 10}, "segment_seconds"), ({"segment_seconds": 99999}, "segment_seconds"),
    ({"segment_seconds": "long"}, "segment_seconds"),
    ({"segment_seconds": 60, "segment_overlap": 30}, "segment_overlap"),
    ({"segment_overlap": -1}, "segment_overlap"), ({"segment_seconds": 1200, "model": "lite-v1"}, "segment_seconds"),
])
def test_bad_segment_options_are_a_400_naming_them(client, long_id, options, parameter):
    model = options.pop("model", None)
    body = {"file_ids": [long_id], "options": options, **({"model": model} if model else {})}
    # (Only the estimate may name a model this offline setup cannot run.)
    for path in ("/api/nova/estimate",) if model else ("/api/nova/estimate", "/api/nova/analyze", "/api/batch/nova"):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.get_json())
        error = response.get_json()["error"]
        assert error["details"]["parameter"] == parameter and parameter in error["message"]


def test_the_estimate_counts_every_segment_and_the_merge_call(client, long_id):
    def estimate(options):
        return client.post("/api/nova/estimate", json={"file_ids": [long_id], "model": "lite",
                                                       "analysis_types": ["combined"], "options": options}).get_json()

    whole, split = estimate({}), estimate(SEGMENTS)
    one, three = whole["files"][0], split["files"][0]
    assert (one["segments"], one["records"]) == (0, 1)
    assert (three["segments"], three["records"], three["segment_seconds"]) == (3, 3, 60)
    assert three["merge_input_tokens"] > 0 and three["merge_output_tokens"] > 0
    # 159.4 s of video seen (the overlaps twice) at 288 tokens a second, three prompts, plus the merge.
    assert three["input_tokens"] >= 288 * 159 + three["merge_input_tokens"]
    assert three["input_tokens"] > one["input_tokens"] and three["cost_usd_batch"] > one["cost_usd_batch"]
    assert split["plan"]["segmented_files"] == 1 and split["plan"]["segments"] == 3
    assert any("3 segments of 1 min (10 s overlap)" in reason for reason in split["plan"]["reasons"])


def test_when_the_summary_merge_call_fails_the_summary_joins_the_segments_and_the_run_is_partial(app, client, services,
                                                                                                long_id, monkeypatch):
    calls = Calls(services, monkeypatch)
    calls.fail = {"summary_merge"}
    response = client.post("/api/nova/analyze", json={"file_ids": [long_id], "analysis_types": ["summary"],
                                                      "options": SEGMENTS})
    assert wait_for_task(client, response.get_json()["task_id"])["status"] == "SUCCEEDED"
    run = latest_run(client, long_id)
    assert run["status"] == "PARTIAL" and run["error"]["code"] == "summary_merge_failed"
    assert "the summary merge call failed: ThrottlingException" in run["error"]["message"]
    assert [s["status"] for s in run["segments"]] == ["COMPLETED"] * 3
    text = run["results"]["summary"]["text"]
    assert text.startswith("This summary joins the segments' own summaries") and "0:50–1:50: " in text


def test_a_fault_while_merging_fails_the_result_instead_of_leaving_it_pending(app, client, services, long_id,
                                                                              monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("chapters")

    monkeypatch.setattr(merging, "merge_result", broken)
    response = client.post("/api/nova/analyze", json={"file_ids": [long_id], "analysis_types": ["chapters"],
                                                      "options": SEGMENTS})
    assert wait_for_task(client, response.get_json()["task_id"])["status"] == "SUCCEEDED"
    run = latest_run(client, long_id)
    assert run["status"] == "FAILED" and run["error"]["code"] == "merge_failed"
    assert run["result_errors"]["chapters"]["message"].startswith("the segments' answers could not be merged")


@pytest.mark.parametrize("max_files, min_records", [(2, 2)])
def test_segments_left_below_the_batch_minimum_run_on_demand_and_the_file_is_merged_once(app, client, conn, services,
                                                                                        long_id, monkeypatch):
    calls = Calls(services, monkeypatch)
    response = client.post("/api/batch/nova", json={"file_ids": [long_id], "analysis_types": ["chapters"],
                                                    "mode": "auto", "options": SEGMENTS})
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    # Segments 1-2 make a batch job; segment 3 alone is below the minimum of 2 and runs on demand.
    assert [(c["index"], c["records_total"]) for c in batch["chunks"]] == [(0, 2)]
    assert batch["on_demand"]["task_id"] and batch["plan"]["batch_files"] == 1
    wait_tasks(app, batch)
    assert calls.seen == ["chapters@3 of 3"]  # asked on demand, the others wait for their job
    run = latest_run(client, long_id)
    assert run["mode"] == "batch" and run["status"] != "COMPLETED"
    shown = drive(app, conn, services, batch["id"])
    assert shown["status"] == "COMPLETED" and shown["records"] == {"completed": 3, "failed": 0, "pending": 0}
    run = latest_run(client, long_id)
    assert run["status"] == "COMPLETED" and [s["status"] for s in run["segments"]] == ["COMPLETED"] * 3
    assert conn.execute("SELECT COUNT(*) FROM tasks WHERE kind = 'merge'").fetchone()[0] == 1


def test_without_a_proxy_a_segmented_run_fails_its_segments_and_is_merged_as_failed(app, client, services, long_id,
                                                                                   monkeypatch):
    from app.services import analysis

    def no_proxy(*args, **kwargs):
        raise RuntimeError("cannot make a proxy: disk full")

    monkeypatch.setattr(analysis, "ensure_proxy", no_proxy)
    response = client.post("/api/nova/analyze", json={"file_ids": [long_id], "analysis_types": ["chapters"],
                                                      "options": SEGMENTS})
    assert wait_for_task(client, response.get_json()["task_id"])["status"] == "SUCCEEDED"
    run = latest_run(client, long_id)
    assert run["status"] == "FAILED" and run["error"]["code"] == "all_segments_failed"
    assert [s["status"] for s in run["segments"]] == ["FAILED"] * 3
    assert "no proxy: cannot make a proxy: disk full" in run["error"]["message"]
