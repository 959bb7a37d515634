"""Merging segment answers (pure functions): chapters, time ranges, elements, classification, metadata,
the summary merge request and its offline answer, record ids and the gaps a merged result names."""
from __future__ import annotations

import json

import pytest

from app.db.analysis import RecordRef, parse_record_id, record_id_for, segment_record_id_for
from app.inference.local import LocalAnalyzer
from app.nova.merge import merge_result
from app.nova.merge_times import SegmentAnswer, merge_chapters, union_ranges
from app.nova.parser import parse_model_output
from app.nova.prompts import FileContext
from app.nova.summary_merge import (SUMMARIES_MARKER, build_merge_request, fallback_summary, summary_parts)
from app.services.segments.records import gap_report, uncovered


def chapter(title: str, start: float, end: float, *points: str) -> dict:
    return {"title": title, "start_seconds": start, "end_seconds": end, "summary": f"{title} summary",
            "key_points": list(points)}


def answer(index: int, start: float, end: float, chapters: list[dict]) -> SegmentAnswer:
    return SegmentAnswer(index, start, end, {"chapters": chapters})


def titles(result: dict) -> list[tuple[str, float, float]]:
    return [(c["title"], c["start_seconds"], c["end_seconds"]) for c in result["chapters"]]


# ---- chapters ----------------------------------------------------------------------------------------

def test_chapters_are_shifted_by_their_segment_start_and_a_straddling_chapter_is_merged_once():
    merged = merge_chapters([
        answer(0, 0, 960, [chapter("Intro", 0, 400), chapter("Building the pond", 400, 960, "liner")]),
        answer(1, 950, 1910, [chapter("Building the pond (cont.)", 0, 200, "rocks"), chapter("Water", 200, 960)]),
        answer(2, 1900, 2500, [chapter("Water", 0, 100), chapter("Outro", 100, 600)]),
    ], 2500.0)
    # The straddling chapter keeps the title of the view that saw more of it, and both views' key points.
    assert titles(merged) == [("Intro", 0.0, 400.0), ("Building the pond", 400.0, 1150.0),
                              ("Water", 1150.0, 2000.0), ("Outro", 2000.0, 2500.0)]
    assert merged["chapters"][1]["key_points"] == ["liner", "rocks"]


def test_a_chapter_change_inside_the_overlap_pairs_the_right_chapters():
    # The scene changes at 955 s, inside the overlap 950-960: both segments see the change.
    merged = merge_chapters([
        answer(0, 0, 960, [chapter("A", 0, 955), chapter("B", 955, 960)]),
        answer(1, 950, 1910, [chapter("A again", 0, 5), chapter("B again", 5, 960)]),
    ], 1910.0)
    assert [t for t, _, _ in titles(merged)] == ["A", "B again"]
    assert titles(merged)[1][1:] == (955.0, 1910.0)


@pytest.mark.parametrize("overlap", [0, 10])
def test_merged_chapters_lie_inside_the_video_in_order(overlap):
    duration = 7200.0
    step = 960 - overlap
    answers = []
    for index in range(8):
        start = index * step
        end = min(start + 960, duration)
        # Sloppy model times: past the segment's end, overlapping, out of order.
        answers.append(answer(index, start, end, [chapter(f"{index}-b", 300, 2000), chapter(f"{index}-a", 0, 310)]))
    merged = merge_chapters(answers, duration)["chapters"]
    assert merged, merged
    for before, after in zip(merged, merged[1:]):
        assert before["end_seconds"] <= after["start_seconds"]
    assert all(0 <= c["start_seconds"] < c["end_seconds"] <= duration for c in merged)


def test_without_overlap_or_across_a_missing_segment_nothing_is_joined():
    merged = merge_chapters([answer(0, 0, 960, [chapter("A", 0, 960)]), answer(1, 960, 1920, [chapter("B", 0, 960)])],
                            1920.0)
    assert [t for t, _, _ in titles(merged)] == ["A", "B"]
    gap = merge_chapters([answer(0, 0, 960, [chapter("A", 0, 960)]), answer(2, 1900, 2860, [chapter("C", 0, 960)])],
                         2860.0)
    assert titles(gap) == [("A", 0.0, 960.0), ("C", 1900.0, 2860.0)]  # 960-1900 stays uncovered


def test_time_ranges_touching_are_joined_and_too_many_close_their_smallest_gaps():
    ranges = [{"start_seconds": 0, "end_seconds": 10}, {"start_seconds": 10.5, "end_seconds": 20},
              {"start_seconds": 50, "end_seconds": 60}]
    assert union_ranges(ranges) == [{"start_seconds": 0.0, "end_seconds": 20.0},
                                    {"start_seconds": 50.0, "end_seconds": 60.0}]
    many = [{"start_seconds": i * 10.0, "end_seconds": i * 10.0 + 1 + (i % 2)} for i in range(100)]
    capped = union_ranges(many, limit=50)
    assert len(capped) == 50
    assert capped[0]["start_seconds"] == 0.0 and capped[-1]["end_seconds"] == many[-1]["end_seconds"]


# ---- elements, classification, metadata ----------------------------------------------------------------

def elements(equipment: list[dict], *, count: int | None = None, colors=("#112233",), brightness="normal",
             motion="low", audio=None) -> dict:
    return {"equipment": equipment, "topics": [], "people": {"max_count": count, "descriptions": []},
            "speakers": [], "visual": {"dominant_colors": list(colors), "brightness": brightness,
                                       "motion": motion, "has_audio": audio}}


def test_elements_are_unioned_by_name_with_their_time_ranges_in_video_time():
    pump = {"name": "Pump", "category": None, "confidence": 0.6,
            "time_ranges": [{"start_seconds": 900, "end_seconds": 960}]}
    pump2 = {"name": "pump ", "category": "equipment", "confidence": 0.9,
             "time_ranges": [{"start_seconds": 0, "end_seconds": 30}]}
    liner = {"name": "Liner", "category": "material", "confidence": 0.8,
             "time_ranges": [{"start_seconds": 10, "end_seconds": 20}]}
    merged = merge_result("elements", [
        SegmentAnswer(0, 0, 960, elements([pump], count=2, audio=False, brightness="dark")),
        SegmentAnswer(1, 950, 1910, elements([pump2, liner], count=5, colors=("#445566",), audio=True)),
        SegmentAnswer(2, 1900, 2000, elements([], count=None)),
    ], 2000.0)
    names = [e["name"] for e in merged["equipment"]]
    assert names == ["Pump", "Liner"]
    pump_merged = merged["equipment"][0]
    assert pump_merged["category"] == "equipment" and pump_merged["confidence"] == 0.9
    assert pump_merged["time_ranges"] == [{"start_seconds": 900.0, "end_seconds": 980.0}]
    assert merged["equipment"][1]["time_ranges"] == [{"start_seconds": 960.0, "end_seconds": 970.0}]
    assert merged["people"]["max_count"] == 5
    assert merged["visual"]["has_audio"] is True
    assert merged["visual"]["brightness"] == "normal"  # 960 s + 100 s normal against 960 s dark
    assert set(merged) == {"equipment", "topics", "people", "speakers", "visual"}


def waterfall(family: str, conf: float, *, evidence: list[str], content: str = "other") -> dict:
    known = family != "Unknown"
    dims = {"family": family, "tier_level": "Unknown", "functional_type": "Waterfall" if known else "Unknown",
            "sub_type": "Unknown"}
    return {**dims, "confidence": {"family": conf, "tier_level": 0.0, "functional_type": conf if known else 0.0,
                                   "sub_type": 0.0, "overall": 0.0},
            "evidence": evidence, "unknown_reasons": {d: f"no view of {d}" for d, v in dims.items() if v == "Unknown"},
            "search_tags": ["pond"], "product_keywords": [], "content_type": content, "skill_level": "unknown"}


def test_the_classification_is_taken_by_confidence_with_its_evidence_first():
    merged = merge_result("waterfall_classification", [
        SegmentAnswer(0, 0, 960, waterfall("Custom Formal", 0.75, evidence=["cut stone"])),
        SegmentAnswer(1, 950, 1910, waterfall("Genesis Natural", 0.92, evidence=["kit boulders"],
                                              content="installation_tutorial")),
        SegmentAnswer(2, 1900, 2000, waterfall("Unknown", 0.0, evidence=[])),
    ], 2000.0)
    assert merged["family"] == "Genesis Natural" and merged["confidence"]["family"] == 0.92
    assert merged["evidence"][0] == "kit boulders" and "cut stone" in merged["evidence"]
    assert merged["tier_level"] == "Unknown" and "no view of tier_level" in merged["unknown_reasons"]["tier_level"]
    assert merged["confidence"]["overall"] == 0.0
    assert merged["content_type"] == "installation_tutorial"


def metadata(date: str | None, conf: float, *, project: str | None, keywords: list[str], entities=()) -> dict:
    return {"recording_date": {"date": date, "source": "visual" if date else "unknown", "confidence": conf},
            "project": {"name": project, "customer": None, "code": None},
            "location": {"name": None, "city": "Austin", "region": None, "country": None, "gps": None},
            "camera": None, "entities": list(entities), "keywords": keywords}


def test_metadata_takes_the_surest_date_and_unions_keywords_and_entities():
    merged = merge_result("search_metadata", [
        SegmentAnswer(0, 0, 960, metadata("2024-05-01", 0.5, project="Smith pond", keywords=["pond", "liner"],
                                          entities=[{"type": "company", "value": "Acme", "confidence": 0.5}])),
        SegmentAnswer(1, 950, 1910, metadata("2024-05-02", 0.9, project="Smith pond", keywords=["Liner", "pump"],
                                             entities=[{"type": "company", "value": "acme", "confidence": 0.8}])),
        SegmentAnswer(2, 1900, 2000, metadata(None, 0.0, project=None, keywords=["liner"])),
    ], 2000.0)
    assert merged["recording_date"]["date"] == "2024-05-02"
    assert merged["project"]["name"] == "Smith pond" and merged["location"]["city"] == "Austin"
    assert merged["keywords"] == ["liner", "pond", "pump"]
    assert merged["entities"] == [{"type": "company", "value": "Acme", "confidence": 0.8}]


def test_combined_merges_four_sections_and_leaves_the_summary_to_the_model():
    parts = {"summary": {"text": "x", "key_points": []}, "chapters": {"chapters": [chapter("A", 0, 10)]},
             "elements": elements([]), "waterfall_classification": waterfall("Unknown", 0, evidence=[]),
             "search_metadata": metadata(None, 0, project=None, keywords=[])}
    merged = merge_result("combined", [SegmentAnswer(0, 0, 60, parts), SegmentAnswer(1, 50, 100, parts)], 100.0)
    assert set(merged) == {"chapters", "elements", "waterfall_classification", "search_metadata"}
    with pytest.raises(ValueError):
        merge_result("summary", [SegmentAnswer(0, 0, 60, parts["summary"])], 60.0)


# ---- the summary merge ----------------------------------------------------------------------------------

def summary_answers() -> list[SegmentAnswer]:
    return [SegmentAnswer(i, i * 950.0, i * 950.0 + 960, {"text": f"Part {i} begins. It goes on.",
                                                          "key_points": [f"point {i}", "shared"]})
            for i in range(3)]


def test_the_summary_merge_is_a_text_only_request_the_local_analyser_answers_honestly():
    parts = summary_parts(summary_answers())
    ctx = FileContext(name="site walk.mp4", folder="Jobs/2024", duration_seconds=2870.0)
    request = build_merge_request(ctx, {"summary_depth": "standard"}, parts, count=4, missing=["47:30–48:00"])
    content = request["messages"][0]["content"]
    assert [list(block) for block in content] == [["text"]]  # no media block
    prompt = content[0]["text"]
    assert prompt.startswith("Task: summary_merge\nMedia: text\n")
    data = json.loads(prompt.splitlines()[prompt.splitlines().index(SUMMARIES_MARKER) + 1])
    assert [p["segment"] for p in data] == [1, 2, 3] and data[1]["start_seconds"] == 950.0
    body = LocalAnalyzer(lambda uri: None).respond(request)
    summary = parse_model_output(body, "summary", media_type="video", duration_seconds=2870.0).results["summary"]
    assert "assembled from the summaries of 3 of the 4 segments" in summary["text"]
    assert "15:50–31:50: Part 1 begins." in summary["text"] and "47:30–48:00" in summary["text"]
    assert summary["key_points"][:3] == ["point 0", "point 1", "point 2"] and "shared" in summary["key_points"]


def test_when_the_summary_merge_fails_the_segments_summaries_are_joined_and_say_so():
    summary = fallback_summary(summary_parts(summary_answers()), {}, "ThrottlingException: slow down")
    assert "failed (ThrottlingException: slow down)" in summary["text"]
    assert "15:50–31:50: Part 1 begins. It goes on." in summary["text"]
    assert summary["key_points"] == ["point 0", "shared", "point 1", "point 2"]


# ---- record ids and gaps ---------------------------------------------------------------------------------

def test_segment_record_ids_are_11_alphanumerics_distinct_from_whole_file_ids():
    whole = record_id_for(1234567, "combined")
    segment = segment_record_id_for(1234567, "combined", 37)
    assert len(segment) == 11 and segment.isalnum() and segment != whole
    assert parse_record_id(whole) == RecordRef(1234567, "combined", None)
    assert parse_record_id(segment) == RecordRef(1234567, "combined", 37)
    assert parse_record_id(segment_record_id_for(5, "search_metadata", 0)) == RecordRef(5, "search_metadata", 0)
    for bad in ("x00000010_2", "y0000001002", "X000000100", "x0000-01002", None, 7, "x000000100é"):
        assert parse_record_id(bad) is None, bad
    with pytest.raises(ValueError):
        segment_record_id_for(1, "summary", 36 ** 3)


def test_the_gap_names_the_minutes_no_answered_segment_covers():
    def row(index, start, end, status, truncated=0, error=None):
        return {"segment_index": index, "start_seconds": start, "end_seconds": end, "status": status,
                "truncated": truncated, "error_message": error, "error_code": "x" if error else None}

    rows = [row(0, 0, 960, "COMPLETED"), row(1, 950, 1910, "FAILED", error="ThrottlingException: slow"),
            row(2, 1900, 2860, "COMPLETED", truncated=1), row(3, 2850, 3000, "COMPLETED")]
    assert uncovered([r for r in rows if r["status"] == "COMPLETED"], 3000.0) == [(960, 1900)]
    code, message = gap_report(rows, 3000.0)
    assert code == "segments_missing"
    assert message.startswith("missing 16:00–31:40 of 50:00; segment 2 of 4 (15:50–31:50) failed: Throttling")
    assert "segment 3 of 4 (31:40–47:40) was cut off" in message
    assert gap_report([row(0, 0, 960, "COMPLETED")], 960.0) is None
    assert gap_report([row(0, 0, 960, "COMPLETED", truncated=1)], 960.0)[0] == "segments_truncated"


def test_merging_500_segment_answers_gives_one_result_of_the_usual_shape():
    answers = [SegmentAnswer(i, i * 950.0, i * 950.0 + 960, {
        "chapters": {"chapters": [chapter(f"{i}a", 0, 500), chapter(f"{i}b", 500, 960)]},
        "elements": elements([{"name": f"tool {i % 40}", "category": None, "confidence": 0.5,
                               "time_ranges": [{"start_seconds": 5, "end_seconds": 9}]}]),
        "waterfall_classification": waterfall("Unknown", 0, evidence=[]),
        "search_metadata": metadata(None, 0, project=None, keywords=[f"k{i % 50}"])}) for i in range(500)]
    duration = 499 * 950.0 + 960
    merged = merge_result("combined", answers, duration)
    chapters = merged["chapters"]["chapters"]
    assert len(chapters) == 1000 - 499  # each boundary's straddling chapter counted once
    assert chapters[-1]["end_seconds"] == duration
    assert len(merged["elements"]["equipment"]) == 40
    assert all(len(e["time_ranges"]) <= 50 for e in merged["elements"]["equipment"])
    assert len(merged["search_metadata"]["keywords"]) == 30
