"""Result validation: coercion, clamping, vocabularies and defaults for every result type."""
from __future__ import annotations

import pytest

from app.nova.schemas import (
    ModelOutputError, default_result, parse_confidence, parse_date, parse_seconds, validate_result,
)


def check(analysis_type: str, data, media_type: str = "video", duration: float | None = None):
    return validate_result(analysis_type, data, media_type=media_type, duration_seconds=duration)


@pytest.mark.parametrize("value, seconds", [
    (12, 12.0), (12.5, 12.5), ("12.5", 12.5), ("12.5s", 12.5), ("01:05", 65.0), ("1:02:03.5", 3723.5),
    ("00:01:02,500", 62.5), ("75:30", 4530.0),
])
def test_times_parse_from_numbers_and_clock_strings(value, seconds):
    assert parse_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "-5", -1, "1:75", "1:61:00", True, None, float("nan"), float("inf")])
def test_unusable_times_are_none(value):
    assert parse_seconds(value) is None


@pytest.mark.parametrize("value, conf", [
    (0.8, 0.8), (1.7, 1.0), (-0.2, 0.0), ("high", 0.9), ("Medium", 0.6), ("low", 0.3), ("85%", 0.85), ("0.4", 0.4),
])
def test_confidences_are_clamped_and_words_mapped(value, conf):
    assert parse_confidence(value) == pytest.approx(conf)


@pytest.mark.parametrize("value, iso", [
    ("2024-05-01", "2024-05-01"), ("2024:05:01 10:00:00", "2024-05-01"), ("2024/5/1", "2024-05-01"),
    ("20240501", "2024-05-01"), ("2024-05-01T10:00:00Z", "2024-05-01"),
    ("2024-02-30", None), ("May 2024", None), ("2024-05", None), ("1066-10-14", None), (20240501, None),
])
def test_dates_must_be_real_calendar_dates(value, iso):
    assert parse_date(value) == iso


def test_summary_is_cleaned_and_keeps_markup_literal():
    result, warnings = check("summary", {"text": "  <b>Pond</b>\r\n\r\n\r\n\r\nbuild  ", "depth": "epic",
                                         "language": "en", "key_points": "one point"})
    assert result == {"text": "<b>Pond</b>\n\nbuild", "depth": "standard", "language": "en",
                      "key_points": ["one point"]}
    assert warnings == []


def test_summary_depth_follows_the_requested_option():
    result, _ = validate_result("summary", {"text": "x", "depth": "brief"}, media_type="video",
                                options={"summary_depth": "detailed"})
    assert result["depth"] == "detailed"


def test_summary_wrapped_in_its_type_name_is_accepted():
    result, _ = check("summary", {"summary": {"text": "Wrapped"}})
    assert result["text"] == "Wrapped"


def test_a_list_where_an_object_belongs_is_a_schema_mismatch():
    with pytest.raises(ModelOutputError) as info:
        check("summary", ["text"])
    assert info.value.code == "schema_mismatch"


def test_summary_without_text_gets_a_default_and_a_warning():
    result, warnings = check("summary", {"text": None, "key_points": ["a"]})
    assert result["text"] == ""
    assert warnings == ["summary: summary text missing"]


def test_chapters_accept_clock_times_and_are_sorted():
    data = {"chapters": [
        {"title": "Second", "start_time": "01:00", "end_time": "02:00", "summary": "b"},
        {"title": "First", "start_time": "00:00", "end_time": "01:00", "summary": "a", "key_points": ["k"]},
    ]}
    result, warnings = check("chapters", data, duration=120)
    assert result["chapters"] == [
        {"title": "First", "start_seconds": 0.0, "end_seconds": 60.0, "summary": "a", "key_points": ["k"]},
        {"title": "Second", "start_seconds": 60.0, "end_seconds": 120.0, "summary": "b", "key_points": []},
    ]
    assert warnings == []


def test_out_of_range_chapters_are_clamped_or_dropped():
    data = {"chapters": [
        {"title": "Intro", "start_seconds": 0, "end_seconds": 50},
        {"title": "Overlaps", "start_seconds": 40, "end_seconds": 95},
        {"title": "After end", "start_seconds": 100, "end_seconds": 130},
        {"title": "Backwards", "start_seconds": 20, "end_seconds": 10},
        {"title": "", "start_seconds": "bad"},
    ]}
    result, warnings = check("chapters", data, duration=90)
    spans = [(c["title"], c["start_seconds"], c["end_seconds"]) for c in result["chapters"]]
    assert spans == [("Intro", 0.0, 20.0), ("Overlaps", 40.0, 90.0)]
    assert len(warnings) == 3  # no start, starts after the end, end before start


def test_chapter_without_end_runs_to_the_next_start_and_untitled_gets_a_number():
    data = {"chapters": [{"start_seconds": 0}, {"title": "Two", "start_seconds": 30}]}
    result, _ = check("chapters", data, duration=45)
    assert [(c["title"], c["start_seconds"], c["end_seconds"]) for c in result["chapters"]] == [
        ("Chapter 1", 0.0, 30.0), ("Two", 30.0, 45.0)]


def test_video_elements_are_coerced():
    data = {
        "equipment": [{"name": "Pump", "category": "hardware", "confidence": "high",
                       "time_ranges": ["00:05-00:10", {"start_seconds": 50, "end_seconds": 500}, "junk"]},
                      {"category": "nameless"}, "Shovel"],
        "topics_discussed": [{"topic": "Liner", "description": "How to lay it", "time_ranges": [[1, 2]]}],
        "people": {"max_count": "2", "descriptions": ["installer"]},
        "speakers": [{"speaker_id": "Speaker 1", "role": "host"}],
        "visual": {"dominant_colors": ["#1A2B3C", "#abc", "blue"], "brightness": "Bright", "motion": "fast",
                   "has_audio": "yes"},
    }
    result, _ = check("elements", data, duration=60)
    pump, shovel = result["equipment"]
    assert pump == {"name": "Pump", "category": "hardware", "confidence": 0.9,
                    "time_ranges": [{"start_seconds": 5.0, "end_seconds": 10.0},
                                    {"start_seconds": 50.0, "end_seconds": 60.0}]}
    assert shovel["name"] == "Shovel" and shovel["time_ranges"] == []
    assert result["topics"] == [{"name": "Liner", "description": "How to lay it",
                                 "time_ranges": [{"start_seconds": 1.0, "end_seconds": 2.0}]}]
    assert result["people"] == {"max_count": 2, "descriptions": ["installer"]}
    assert result["speakers"] == [{"label": "Speaker 1", "role": "host", "time_ranges": []}]
    assert result["visual"] == {"dominant_colors": ["#1a2b3c", "#aabbcc"], "brightness": "bright",
                                "motion": None, "has_audio": True}


def test_image_elements_have_visible_text_and_no_time_ranges():
    result, _ = check("elements", {"equipment": [{"name": "Pump", "time_ranges": ["0:01-0:02"]}],
                                   "text_visible": ["SALE", "SALE", "Open"]}, media_type="image")
    assert "time_ranges" not in result["equipment"][0]
    assert "speakers" not in result
    assert result["text_visible"] == ["SALE", "Open"]


def test_waterfall_vocabulary_violations_become_unknown_with_reasons():
    data = {"family": "Pondless Wonder", "tier_level": "deluxe", "functional_type": "Grotto",
            "sub_type": "two-tier split",
            "confidence": {"family": 0.95, "tier_level": 0.8, "functional_type": 0.4, "sub_type": 1.6,
                           "overall": 0.99},
            "evidence": ["boulders visible"], "content_type": "vlog", "skill_level": "Advanced"}
    result, warnings = check("waterfall_classification", data)
    assert result["family"] == "Unknown"
    assert "Pondless Wonder" in result["unknown_reasons"]["family"]
    assert result["tier_level"] == "Deluxe (Medium)"
    assert result["functional_type"] == "Unknown"
    assert "below 0.70" in result["unknown_reasons"]["functional_type"]
    assert result["sub_type"] == "Two-Tier Split"
    assert result["confidence"] == {"family": 0.0, "tier_level": 0.8, "functional_type": 0.4, "sub_type": 1.0,
                                    "overall": 0.0}
    assert set(result["unknown_reasons"]) == {"family", "functional_type"}
    assert result["content_type"] == "other" and result["skill_level"] == "advanced"
    assert any("Pondless" in w for w in warnings)


def test_waterfall_overall_is_the_minimum_of_the_four():
    data = {"family": "Genesis Natural", "tier_level": "Classic (Small)", "functional_type": "Waterfall",
            "sub_type": "One-Tier",
            "confidence": {"family": 0.9, "tier_level": 0.75, "functional_type": 0.8, "sub_type": "high"}}
    result, _ = check("waterfall_classification", data, media_type="image")
    assert result["confidence"]["overall"] == 0.75
    assert result["unknown_reasons"] == {}


def test_metadata_dates_sources_and_placeholder_gps():
    data = {"recording_date": {"date": "2024:05:01", "source": "Path", "confidence": 0.8},
            "project": {"name": "Smith Pond", "customer": "Unknown", "code": " J-42 "},
            "location": {"city": "Austin", "gps": {"latitude": 0.0, "longitude": 0.0}},
            "camera": None,
            "entities": [{"type": "customer", "value": "Smith", "confidence": 2}, {"type": "x"}],
            "keywords": ["pond", "Pond", "waterfall"]}
    result, _ = check("search_metadata", data)
    assert result["recording_date"] == {"date": "2024-05-01", "source": "path", "confidence": 0.8}
    assert result["project"] == {"name": "Smith Pond", "customer": None, "code": "J-42"}
    assert result["location"] == {"name": None, "city": "Austin", "region": None, "country": None, "gps": None}
    assert result["entities"] == [{"type": "customer", "value": "Smith", "confidence": 1.0}]
    assert result["keywords"] == ["pond", "waterfall"]


def test_invalid_recording_date_becomes_null_with_a_warning():
    result, warnings = check("metadata", {"recording_date": {"date": "2024-13-45", "source": "exif"},
                                          "location": {"gps": "47.5,-122.25"}}, media_type="image")
    assert result["recording_date"] == {"date": None, "source": "unknown", "confidence": 0.0}
    assert result["location"]["gps"] == {"latitude": 47.5, "longitude": -122.25}
    assert any("recording date" in w for w in warnings)


def test_description_result():
    result, _ = check("description", {"description": "A waterfall.", "scene_type": "backyard",
                                      "primary_subject": "waterfall", "key_points": ["stone"]}, media_type="image")
    assert result == {"text": "A waterfall.", "scene_type": "backyard", "primary_subject": "waterfall",
                      "key_points": ["stone"]}


def test_type_not_valid_for_media_is_a_caller_error():
    with pytest.raises(ValueError):
        check("chapters", {"chapters": []}, media_type="image")


def test_combined_without_any_section_is_a_schema_mismatch():
    with pytest.raises(ModelOutputError) as info:
        check("combined", {"result": "fine"})
    assert info.value.code == "schema_mismatch"


def test_default_results_have_the_contract_keys():
    assert set(default_result("elements", media_type="video")) == {"equipment", "topics", "people", "speakers",
                                                                   "visual"}
    assert set(default_result("combined", media_type="video")) == {
        "summary", "chapters", "elements", "waterfall_classification", "search_metadata"}
    assert default_result("waterfall_classification", media_type="image")["confidence"]["overall"] == 0.0
