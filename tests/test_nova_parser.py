"""Parsing Nova response bodies: fences, prose, truncation, filtering and hostile output."""
from __future__ import annotations

import json

import pytest

from app.nova.parser import ModelOutputError, parse_model_output, read_usage


def body(text: str | None, stop: str = "end_turn", usage: dict | None = None) -> dict:
    content = [] if text is None else [{"text": text}]
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": usage if usage is not None else {"inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500}}


SUMMARY = {"text": "A pond is built.", "depth": "standard", "language": "en", "key_points": ["dig", "fill"]}
CHAPTERS = {"chapters": [
    {"title": "Digging", "start_seconds": 0, "end_seconds": 30, "summary": "Dig.", "key_points": ["shovel"]},
    {"title": "Liner", "start_seconds": 30, "end_seconds": 60, "summary": "Line.", "key_points": []},
]}


def test_clean_json_is_parsed_and_validated():
    parsed = parse_model_output(body(json.dumps(SUMMARY)), "summary", media_type="video")
    assert parsed.results == {"summary": SUMMARY}
    assert parsed.truncated is False and parsed.repaired is False
    assert (parsed.input_tokens, parsed.output_tokens) == (1200, 300)
    assert parsed.stop_reason == "end_turn"
    assert parsed.warnings == []


@pytest.mark.parametrize("wrapper", [
    "```json\n{}\n```", "```\n{}\n```", "```JSON {} ```", "Here is the result:\n```json\n{}\n```\nHope it helps!",
])
def test_fenced_json_is_unwrapped(wrapper):
    text = wrapper.replace("{}", json.dumps(SUMMARY))
    parsed = parse_model_output(body(text), "summary", media_type="video")
    assert parsed.results["summary"]["text"] == "A pond is built."
    assert parsed.truncated is False


def test_prose_around_json_is_ignored_with_a_warning():
    text = f"Sure! Here is the analysis: {json.dumps(CHAPTERS)} Let me know if you need more."
    parsed = parse_model_output(body(text), "chapters", media_type="video", duration_seconds=60)
    assert [c["title"] for c in parsed.results["chapters"]["chapters"]] == ["Digging", "Liner"]
    assert parsed.truncated is False
    assert any("ignored" in w for w in parsed.warnings)


def test_chapters_cut_mid_object_are_repaired_and_flagged_truncated():
    full = json.dumps({"chapters": CHAPTERS["chapters"] + [
        {"title": "Stones", "start_seconds": 60, "end_seconds": 90, "summary": "Place stones."}]})
    cut = full[: full.index('"summary": "Place')] + '"summ'
    parsed = parse_model_output(body(cut, stop="max_tokens"), "chapters", media_type="video", duration_seconds=90)
    chapters = parsed.results["chapters"]["chapters"]
    assert [c["title"] for c in chapters] == ["Digging", "Liner", "Stones"]
    assert chapters[2]["end_seconds"] == 90
    assert parsed.truncated is True and parsed.repaired is True
    assert parsed.stop_reason == "max_tokens"


def test_truncation_inside_a_fence_is_repaired():
    cut = "```json\n" + json.dumps(CHAPTERS)[:-40]
    parsed = parse_model_output(body(cut), "chapters", media_type="video", duration_seconds=60)
    assert parsed.truncated is True
    assert parsed.results["chapters"]["chapters"][0]["title"] == "Digging"


def test_max_tokens_stop_reason_marks_output_truncated_even_when_json_is_valid():
    parsed = parse_model_output(body(json.dumps(SUMMARY), stop="max_tokens"), "summary", media_type="video")
    assert parsed.truncated is True
    assert parsed.repaired is False


@pytest.mark.parametrize("text", [None, "", "   \n "])
def test_empty_text_is_an_error(text):
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body(text), "summary", media_type="video")
    assert info.value.code == "empty_output"
    assert info.value.input_tokens == 1200  # the failed call was still billed


def test_content_filtered_is_an_error():
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body("", stop="content_filtered"), "summary", media_type="video")
    assert info.value.code == "content_filtered"


@pytest.mark.parametrize("text", [
    "I'm sorry, I cannot analyse this video.",
    "<html><body>502 Bad Gateway</body></html>",
    "\x00\x01\x02 binary junk",
])
def test_non_json_garbage_is_an_error(text):
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body(text), "summary", media_type="video")
    assert info.value.code == "invalid_json"
    assert info.value.raw_text == text


def test_garbage_with_a_brace_that_repairs_to_nothing_useful_is_an_error():
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body("oops { this is not json at all"), "summary", media_type="video")
    assert info.value.code == "invalid_json"


@pytest.mark.parametrize("text", ["[1, 2, 3]", '"just a string"', "42"])
def test_json_that_is_not_an_object_is_an_error(text):
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body(text), "summary", media_type="video")
    assert info.value.code in ("schema_mismatch", "invalid_json")


def test_wrong_shape_is_a_schema_mismatch():
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(body('{"answer": "yes"}'), "chapters", media_type="video")
    assert info.value.code == "schema_mismatch"


def test_hostile_markup_is_kept_as_literal_text():
    data = {"text": "<script>alert('x')</script> & <b>bold</b>", "key_points": ["<img src=x onerror=alert(1)>"]}
    parsed = parse_model_output(body(json.dumps(data)), "summary", media_type="video")
    assert parsed.results["summary"]["text"] == "<script>alert('x')</script> & <b>bold</b>"
    assert parsed.results["summary"]["key_points"] == ["<img src=x onerror=alert(1)>"]


def test_huge_strings_and_lists_are_capped():
    data = {"text": "a" * 200_000, "key_points": [f"point {i}" for i in range(10_000)]}
    parsed = parse_model_output(body(json.dumps(data)), "summary", media_type="video")
    assert len(parsed.results["summary"]["text"]) == 20_000
    assert len(parsed.results["summary"]["key_points"]) == 20
    assert len(parsed.raw_text) == 20_000


def test_control_characters_are_dropped_from_results():
    data = {"text": "line one\x00\x1b[2J\nline two", "key_points": ["a\u202eb"]}
    parsed = parse_model_output(body(json.dumps(data)), "summary", media_type="video")
    assert parsed.results["summary"]["text"] == "line one [2J\nline two"
    assert parsed.results["summary"]["key_points"] == ["ab"]


def test_combined_yields_one_result_per_part():
    data = {"summary": SUMMARY, "chapters": CHAPTERS, "elements": {"equipment": []},
            "waterfall_classification": {"family": "Unknown"}, "search_metadata": {"keywords": ["pond"]}}
    parsed = parse_model_output(body(json.dumps(data)), "combined", media_type="video", duration_seconds=60)
    assert set(parsed.results) == {"summary", "chapters", "elements", "waterfall_classification", "search_metadata"}
    assert parsed.results["search_metadata"]["keywords"] == ["pond"]


def test_combined_cut_short_keeps_early_sections_and_warns_about_the_rest():
    text = json.dumps({"summary": SUMMARY, "chapters": CHAPTERS, "elements": {"equipment": [{"name": "pump"}]}})
    parsed = parse_model_output(body(text[:-30], stop="max_tokens"), "combined", media_type="video",
                                duration_seconds=60)
    assert parsed.truncated is True
    assert parsed.results["summary"]["text"] == "A pond is built."
    assert parsed.results["waterfall_classification"]["family"] == "Unknown"
    assert any("waterfall_classification missing" in w for w in parsed.warnings)


def test_reasoning_blocks_before_the_text_are_skipped():
    response = body(json.dumps(SUMMARY))
    response["output"]["message"]["content"].insert(0, {"reasoningContent": {"reasoningText": {"text": "hmm"}}})
    assert parse_model_output(response, "summary", media_type="video").results["summary"]["text"]


def test_usage_accepts_snake_case_and_ignores_junk():
    assert read_usage({"usage": {"input_tokens": 5, "output_tokens": 7}}) == (5, 7)
    assert read_usage({"usage": {"inputTokens": "many", "outputTokens": -3}}) == (0, 0)
    assert read_usage({}) == (0, 0)


def test_a_body_that_is_not_an_object_is_an_error():
    with pytest.raises(ModelOutputError) as info:
        parse_model_output(["nope"], "summary", media_type="video")
    assert info.value.code == "invalid_response"


IMAGE_ELEMENTS = {"equipment": [{"name": "Pump", "category": "hardware", "confidence": 0.8}],
                  "people": {"max_count": 1, "descriptions": ["installer"]}, "text_visible": ["OPEN"]}


def parse(answer, analysis_type: str, media_type: str = "video", **kwargs):
    return parse_model_output(body(json.dumps(answer)), analysis_type, media_type=media_type, **kwargs)


@pytest.mark.parametrize("answer", [
    {"elements": IMAGE_ELEMENTS},
    {"elements": IMAGE_ELEMENTS, "media": "image"},
    {"description": {"text": "A pond."}, "elements": IMAGE_ELEMENTS, "metadata": {"keywords": ["pond"]}},
])
def test_image_elements_are_read_from_under_their_own_name(answer):
    elements = parse(answer, "elements", "image").results["elements"]
    assert elements["equipment"] == [{"name": "Pump", "category": "hardware", "confidence": 0.8}]
    assert elements["people"] == {"max_count": 1, "descriptions": ["installer"]}
    assert elements["text_visible"] == ["OPEN"]


def test_a_summary_request_answered_with_several_sections_takes_the_summary():
    answer = {"summary": SUMMARY, "chapters": CHAPTERS["chapters"], "elements": {"equipment": [{"name": "pump"}]},
              "waterfall_classification": {"family": "Unknown"}}
    parsed = parse(answer, "summary", duration_seconds=60)
    assert parsed.results == {"summary": SUMMARY}
    assert parsed.warnings == []


@pytest.mark.parametrize("answer", [
    {"chapters": CHAPTERS},
    {"chapters": CHAPTERS, "summary": SUMMARY},
])
def test_chapters_wrapped_in_their_name_are_unwrapped(answer):
    chapters = parse(answer, "chapters", duration_seconds=60).results["chapters"]["chapters"]
    assert [c["title"] for c in chapters] == ["Digging", "Liner"]


@pytest.mark.parametrize("answer", [
    {"description": {"text": "A stone waterfall.", "scene_type": "backyard"}},
    {"description": {"text": "A stone waterfall.", "scene_type": "backyard"}, "elements": IMAGE_ELEMENTS},
])
def test_a_description_wrapped_in_its_name_is_unwrapped(answer):
    description = parse(answer, "description", "image").results["description"]
    assert description == {"text": "A stone waterfall.", "scene_type": "backyard", "primary_subject": None,
                           "key_points": []}


def test_a_combined_answer_wrapped_in_its_name_is_unwrapped():
    parsed = parse({"combined": {"summary": SUMMARY, "chapters": CHAPTERS}}, "combined", duration_seconds=60)
    assert parsed.results["summary"] == SUMMARY
    assert [c["title"] for c in parsed.results["chapters"]["chapters"]] == ["Digging", "Liner"]


@pytest.mark.parametrize("analysis_type, media_type, answer", [
    ("description", "image", {"description": {"text": ""}}),
    ("description", "image", {"description": {"text": "   ", "key_points": []}}),
    ("description", "image", {"text": ""}),
    ("description", "image", {"text": None, "scene_type": "unknown"}),
    ("description", "image", {}),
    ("description", "image", {"description": {}}),
    ("summary", "video", {"summary": {"text": ""}, "chapters": CHAPTERS["chapters"]}),
    ("summary", "video", {"text": "", "language": "en", "depth": "brief"}),
    ("elements", "image", {"elements": {}}),
    ("chapters", "video", {}),
    ("chapters", "video", {"chapters": []}),
    ("chapters", "video", {"chapters": {"chapters": [{"title": "Late", "start_seconds": 90, "end_seconds": 99}]}}),
    ("combined", "video", {"summary": {"text": ""}}),
    ("combined", "video", {}),
])
def test_a_section_that_validates_to_nothing_fails_with_the_reason(analysis_type, media_type, answer):
    with pytest.raises(ModelOutputError) as info:
        parse(answer, analysis_type, media_type, duration_seconds=60)
    assert info.value.code == "empty_result"
    assert info.value.message.startswith(f"{analysis_type}: ")
    assert info.value.raw_text == json.dumps(answer)
    assert info.value.input_tokens == 1200  # the failed call was still billed


def test_a_description_with_other_fields_but_no_text_is_kept_with_a_warning():
    parsed = parse({"text": "", "scene_type": "backyard"}, "description", "image")
    assert parsed.results["description"]["scene_type"] == "backyard"
    assert parsed.warnings == ["description: description text missing"]


def test_elements_that_name_their_keys_but_saw_nothing_are_a_legitimate_answer():
    answer = {"equipment": [], "topics": [], "people": {"max_count": 0, "descriptions": []}, "text_visible": []}
    elements = parse(answer, "elements", "image").results["elements"]
    assert elements["equipment"] == [] and elements["people"]["max_count"] == 0


def test_an_empty_result_names_why_the_section_came_out_empty():
    answer = {"chapters": [{"title": "Late", "start_seconds": 90, "end_seconds": 99}, {"title": "No start"}]}
    with pytest.raises(ModelOutputError) as info:
        parse(answer, "chapters", duration_seconds=60)
    assert info.value.code == "empty_result"
    assert info.value.message == ("chapters: the answer has no content (empty chapters; dropped a chapter without "
                                  "a usable start time; dropped a chapter starting after the end of the video; "
                                  "no usable chapters)")
