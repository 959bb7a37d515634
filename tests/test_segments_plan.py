"""Planning long videos (no media needed): segments per file, chunks of segments, the estimate with the merge
call, what a retry reuses, the prompt header of a segment, the schema upgrade and learning from segments."""
from __future__ import annotations

import math
import sqlite3

import pytest

from app.config import ConfigError, load_settings
from app.db import connect
from app.db.migrator import migrate
from app.inference.local._prompt_header import parse_header
from app.nova.catalog import load_catalog
from app.nova.estimate import cost_usd, merge_call_tokens
from app.nova.prompts import FileContext, SegmentContext, build_prompt
from app.services.planning import plan_analysis

HOURS = 3600.0


def video_row(file_id: int, duration: float, *, proxy_bytes: int | None = None) -> dict:
    return {"id": file_id, "name": f"site walk {file_id}.mp4", "media_type": "video", "status": "ready",
            "error": None, "duration_seconds": duration, "width": 1280, "height": 720,
            "proxy_size_bytes": proxy_bytes if proxy_bytes is not None else int(duration * 150_000)}


def settings_for(tmp_path, **overrides):
    return load_settings(environ={}, overrides={"DATA_DIR": str(tmp_path), "TESTING": True, **overrides})


@pytest.fixture
def catalog():
    return load_catalog()


def test_long_videos_are_planned_as_segments_instead_of_being_rejected(tmp_path, catalog):
    settings = settings_for(tmp_path, INFERENCE_BACKEND="bedrock", STORAGE_BACKEND="s3", BATCH_MIN_RECORDS=1)
    rows = [video_row(1, 2 * HOURS), video_row(2, 600.0), video_row(3, 3 * HOURS, proxy_bytes=3 * 1024 ** 3)]
    plan = plan_analysis(rows, model=catalog.get("lite-v1"), requested_types=["summary", "chapters"], options={},
                         mode="batch", settings=settings)
    by_id = {f.file_id: f for f in plan.files}
    assert not plan.rejected_files
    two_hours = by_id[1]
    assert (two_hours.segment_seconds, two_hours.segment_overlap, len(two_hours.segments)) == (960, 10, 8)
    assert two_hours.records == 16 and by_id[2].segments == [] and by_id[2].records == 2
    # 3 GB over 3 hours: 16-minute segments are 267 MB, within the 1 GB object limit.
    assert len(by_id[3].segments) == 12 and max(s.bytes for s in by_id[3].segments) < 1024 ** 3
    assert plan.to_dict()["segmented"][0] == {"file_id": 1, "name": "site walk 1.mp4", "segments": 8,
                                              "segment_seconds": 960, "segment_overlap": 10, "records": 16}
    # Nova 2 Lite samples 1 fps over 3,200 s: a 3-hour video is 4 segments.
    lite2 = plan_analysis([video_row(1, 3 * HOURS)], model=catalog.get("lite"), requested_types=["combined"],
                          options={}, mode="batch", settings=settings)
    assert len(lite2.files[0].segments) == 4 and lite2.files[0].segment_seconds == 3200
    shorter = plan_analysis([video_row(1, 3 * HOURS)], model=catalog.get("lite"), requested_types=["combined"],
                            options={"segment_seconds": 600, "segment_overlap": 20}, mode="batch", settings=settings)
    assert (shorter.files[0].segment_seconds, shorter.files[0].segment_overlap) == (600, 20)
    assert len(shorter.files[0].segments) == math.ceil((3 * HOURS - 20) / 580)


def test_a_file_s_segments_fill_chunks_like_files_and_may_span_two(tmp_path, catalog):
    settings = settings_for(tmp_path, LOCAL_BATCH_MIN_RECORDS=1, BATCH_MAX_FILES=5)
    rows = [video_row(1, 600.0), video_row(2, 16000.0)]  # one whole file, then six segments
    plan = plan_analysis(rows, model=catalog.get("local-analyzer"), requested_types=["combined"], options={},
                         mode="batch", settings=settings)
    assert [(c.file_ids, c.records, c.segments) for c in plan.chunks] == [([1, 2], 5, 4), ([2], 2, 2)]
    long_file = plan.files[1]
    assert [s.chunk_index for s in long_file.segments] == [0, 0, 0, 0, 1, 1]
    assert long_file.route == "batch" and long_file.chunk_index == 0 and not long_file.on_demand_segments
    assert sum(c.bytes for c in plan.chunks) == sum(f.proxy_bytes for f in plan.files) + sum(
        s.bytes for s in long_file.segments) - long_file.proxy_bytes


def test_segments_in_a_chunk_below_the_minimum_run_on_demand_and_the_file_stays_a_batch_file(tmp_path, catalog):
    settings = settings_for(tmp_path, INFERENCE_BACKEND="bedrock", STORAGE_BACKEND="s3", BATCH_MIN_RECORDS=4,
                            BATCH_MAX_FILES=4)
    plan = plan_analysis([video_row(1, 5 * HOURS)], model=catalog.get("lite-v1"), requested_types=["combined"],
                         options={}, mode="auto", settings=settings)
    long_file = plan.files[0]
    assert len(long_file.segments) == 19
    assert [c.route for c in plan.chunks] == ["batch"] * 4 + ["on_demand"]
    assert long_file.route == "batch" and long_file.on_demand_segments
    assert [s.chunk_index for s in long_file.segments[-3:]] == [None, None, None]
    # The three left on demand are priced on demand in the plan, the others at the batch price.
    expected = sum(s.cost_usd_batch for s in long_file.segments[:16]) + sum(
        s.cost_usd_on_demand for s in long_file.segments[16:]) + long_file.merge_cost_usd
    assert long_file.cost_usd_batch == pytest.approx(expected)


def test_the_estimate_counts_every_segment_and_the_summary_merge_at_the_on_demand_price(tmp_path, catalog):
    settings = settings_for(tmp_path, LOCAL_BATCH_MIN_RECORDS=1)
    model = catalog.get("lite-v1")
    plan = plan_analysis([video_row(1, 2 * HOURS)], model=model, requested_types=["combined"], options={},
                         mode="batch", settings=settings)
    planned = plan.files[0]
    merge_in, merge_out = merge_call_tokens("combined", 8)
    assert (planned.merge_input_tokens, planned.merge_output_tokens) == (merge_in, merge_out)
    assert planned.input_tokens == sum(s.input_tokens for s in planned.segments) + merge_in
    # 7,270 s of video seen (the overlaps twice) at 288 tokens a second.
    assert sum(s.input_tokens for s in planned.segments) >= 288 * 7270
    assert planned.cost_usd_batch == pytest.approx(
        sum(cost_usd(model, s.input_tokens, s.output_tokens, batch=True) for s in planned.segments)
        + cost_usd(model, merge_in, merge_out, batch=False), abs=1e-6)
    chapters = plan_analysis([video_row(1, 2 * HOURS)], model=model, requested_types=["chapters"], options={},
                             mode="batch", settings=settings).files[0]
    assert chapters.merge_input_tokens == 0  # chapters merge without the model


def test_a_retry_plans_only_the_segments_it_does_not_reuse(tmp_path, catalog):
    settings = settings_for(tmp_path, LOCAL_BATCH_MIN_RECORDS=1)
    reusable = {1: (960, 10, {"chapters": [0, 1, 2, 4, 5, 6, 7], "summary": list(range(8))})}
    plan = plan_analysis([video_row(1, 2 * HOURS)], model=catalog.get("lite-v1"),
                         requested_types=["chapters", "summary"], options={}, mode="batch", settings=settings,
                         reusable=reusable)
    planned = plan.files[0]
    assert [s.types for s in planned.segments] == [[], [], [], ["chapters"], [], [], [], []]
    assert planned.records == 1 and plan.chunks[0].records == 1
    # Cut another way now (another overlap): nothing is reused.
    other = plan_analysis([video_row(1, 2 * HOURS)], model=catalog.get("lite-v1"), requested_types=["chapters"],
                          options={"segment_overlap": 20}, mode="batch", settings=settings, reusable=reusable)
    assert other.files[0].records == 8
    # Every answer reused (only the summary merge failed): nothing to ask, it runs on demand to merge again.
    merge_only = plan_analysis([video_row(1, 2 * HOURS)], model=catalog.get("lite-v1"),
                               requested_types=["summary"], options={}, mode="batch", settings=settings,
                               reusable=reusable)
    assert merge_only.files[0].records == 0 and merge_only.files[0].route == "on_demand" and not merge_only.chunks


def test_a_segment_s_prompt_says_which_part_it_is_and_the_local_header_parser_reads_it():
    ctx = FileContext(name="walk.mp4", folder="Jobs", duration_seconds=7200.0,
                      segment=SegmentContext(2, 8, 1900.0, 2860.0, 7200.0))
    prompt = build_prompt("chapters", ctx, {})
    assert ("- duration_seconds: 960.00\n- segment: 3 of 8\n- segment_start_seconds: 1900.00\n"
            "- segment_end_seconds: 2860.00\n- full_duration_seconds: 7200.00\n- transcript_lines: 0\nOptions:") in prompt
    assert "segment 3 of 8 of a longer video: it shows 31:40 to 47:40" in prompt
    assert "seconds from the start of this segment (0 to 960)" in prompt
    header = parse_header(prompt)
    assert (header.segment, header.segment_count, header.segment_start, header.segment_end,
            header.full_duration, header.duration_seconds) == (3, 8, 1900.0, 2860.0, 7200.0, 960.0)
    whole = build_prompt("chapters", FileContext(name="walk.mp4", duration_seconds=600.0), {})
    assert "segment" not in whole and parse_header(whole).segment is None


def test_the_upgrade_to_segments_keeps_every_run_and_result_and_partial_runs_are_searchable(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    migrate(conn, target=8)
    conn.execute("INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type, imported_at,"
                 " updated_at) VALUES ('/a/b.mp4', '/a', 'b.mp4', 1, 0, 'x', 'video', 'now', 'now')")
    for run_id in (1, 2):
        conn.execute("INSERT INTO analysis_runs (id, file_id, mode, status, model_key, model_id, analysis_types,"
                     " prompt_version, created_at, task_id) VALUES (?, 1, 'batch', 'COMPLETED', 'm', 'm', '[]', 'v',"
                     " 'now', 't')", (run_id,))
    conn.execute("INSERT INTO analysis_results (run_id, analysis_type, status, record_id) VALUES (2, 'summary',"
                 " 'COMPLETED', 'S0000000002'), (1, 'chapters', 'FAILED', NULL)")
    before = conn.execute("SELECT rowid, * FROM analysis_results ORDER BY rowid").fetchall()
    migrate(conn)
    assert [tuple(r) for r in conn.execute("SELECT rowid, run_id, analysis_type, record_id, status, result,"
                                            " tokens_input, tokens_output, cost_usd, truncated, stop_reason, warnings,"
                                            " error_code, error_message, completed_at FROM analysis_results"
                                            " ORDER BY rowid")] == [tuple(r) for r in before]
    assert tuple(conn.execute("SELECT task_id, segment_seconds FROM analysis_runs WHERE id = 2").fetchone()) == (
        "t", None)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("DELETE FROM search_dirty")
    conn.execute("UPDATE analysis_runs SET status = 'PARTIAL' WHERE id = 2")
    assert [row[0] for row in conn.execute("SELECT file_id FROM search_dirty")] == [1]
    conn.execute("DELETE FROM analysis_runs WHERE id = 1")  # the cascade still reaches the results
    assert conn.execute("SELECT COUNT(*) FROM analysis_results WHERE run_id = 1").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE analysis_runs SET status = 'HALF' WHERE id = 2")


@pytest.mark.parametrize("name, value", [("SEGMENT_SECONDS", "-1"), ("SEGMENT_SECONDS", "7200"),
                                         ("SEGMENT_OVERLAP_SECONDS", "301"), ("SEGMENT_WORKERS", "0")])
def test_segment_settings_are_validated_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"DATA_DIR": str(tmp_path), name: value})
    assert str(info.value).startswith(f"{name}=")


def test_settings_give_the_default_length_and_a_request_asks_for_less(tmp_path, catalog):
    from app.services.segments.plan import segment_length

    lite = catalog.get("lite-v1")
    assert segment_length(lite, settings_for(tmp_path), {}) == (960, 10)
    assert segment_length(lite, settings_for(tmp_path, SEGMENT_SECONDS=600, SEGMENT_OVERLAP_SECONDS=30),
                          {}) == (600, 30)
    # A setting beyond the model's full-detail span is capped to it; an overlap too big for a short segment too.
    assert segment_length(lite, settings_for(tmp_path, SEGMENT_SECONDS=3000), {}) == (960, 10)
    assert segment_length(lite, settings_for(tmp_path, SEGMENT_OVERLAP_SECONDS=300), {"segment_seconds": 60}) == (
        60, 29)
