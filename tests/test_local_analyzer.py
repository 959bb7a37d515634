"""The offline analyser answers Nova requests from the sample media, in the contract's shapes."""
from __future__ import annotations

import base64
import json
import math
import os
import shutil
from pathlib import Path

import av
import pytest

from app.inference.local import analyzer as local_analyzer
from app.inference.local.analyzer import AnalyzerError, LocalAnalyzer

MEDIA = Path(os.environ.get("MEDIA_DIR") or Path(__file__).resolve().parent / "media")
VIDEOS = ("car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4")
SYSTEM = "You are a careful media analyst."
PARTS = ("summary", "chapters", "elements", "waterfall_classification", "search_metadata")
METADATA_KEYS = {"recording_date", "project", "location", "camera", "entities", "keywords"}
WATERFALL_KEYS = {"family", "tier_level", "functional_type", "sub_type", "confidence", "evidence", "unknown_reasons",
                  "search_tags", "product_keywords", "content_type", "skill_level"}
VIDEO_KEYS = {
    "summary": {"text", "depth", "language", "key_points"},
    "chapters": {"chapters"},
    "elements": {"equipment", "topics", "people", "speakers", "visual"},
    "waterfall_classification": WATERFALL_KEYS,
    "search_metadata": METADATA_KEYS,
}
IMAGE_KEYS = {
    "description": {"text", "scene_type", "primary_subject", "key_points"},
    "elements": {"equipment", "topics", "people", "visual", "text_visible"},
    "waterfall_classification": WATERFALL_KEYS,
    "metadata": METADATA_KEYS,
}


def make_prompt(task: str, media: str = "video", *, name: str = "clip.mp4", folder: str = "",
                words: str | None = None, duration: str = "unknown", exif_date: str | None = None,
                gps: str | None = None, camera: str | None = None, depth: str = "standard",
                language: str = "auto") -> str:
    """The contract's prompt header followed by a line of instructions."""
    if words is None:
        words = " ".join(name.rsplit(".", 1)[0].replace("-", " ").replace("_", " ").split())
    lines = [f"Task: {task}", f"Media: {media}", "File context:", f"- name: {name}", f"- folder: {folder}",
             f"- path words: {words}"]
    if media == "video":
        lines.append(f"- duration_seconds: {duration}")
    lines += [f"- {key}: {value}" for key, value in
              (("exif_date", exif_date), ("gps", gps), ("camera", camera)) if value]
    lines += [f"Options: depth={depth}; language={language}", "", "Return exactly this JSON shape: {...}"]
    return "\n".join(lines)


def make_request(prompt: str, media: str = "video", *, key: str = "car-detection.mp4",
                 source: dict | None = None, fmt: str | None = None) -> dict:
    """A messages-v1 body with one media block read from s3://media/<key> (or the given source)."""
    block = {"format": fmt or ("mp4" if media == "video" else "jpeg"),
             "source": source or {"s3Location": {"uri": f"s3://media/{key}"}}}
    return {"schemaVersion": "messages-v1", "system": [{"text": SYSTEM}],
            "messages": [{"role": "user", "content": [{media: block}, {"text": prompt}]}],
            "inferenceConfig": {"maxTokens": 8192, "temperature": 0.2, "topP": 0.9}}


def result_of(response: dict) -> dict:
    """The JSON result inside a Nova response body."""
    return json.loads(response["output"]["message"]["content"][0]["text"])


def resolver(root: Path):
    """An object-store stand-in: s3://<bucket>/<key> -> root/<key>, FileNotFoundError when absent."""
    def resolve(uri: str) -> Path:
        path = root / uri.split("/", 3)[3]
        if not path.is_file():
            raise FileNotFoundError(uri)
        return path
    return resolve


def container_duration(name: str) -> float:
    """The duration PyAV reports for a sample video."""
    with av.open(str(MEDIA / name)) as container:
        return container.duration / 1_000_000


@pytest.fixture(scope="module")
def analyzer() -> LocalAnalyzer:
    if not MEDIA.is_dir():
        pytest.fail(f"sample media not found at {MEDIA}; set MEDIA_DIR")
    return LocalAnalyzer(resolver(MEDIA))


def analyse(analyzer: LocalAnalyzer, task: str, key: str = "car-detection.mp4", **header) -> dict:
    """The result of one video task on a sample video."""
    return result_of(analyzer.respond(make_request(make_prompt(task, name=header.pop("name", key), **header),
                                                   key=key)))


def analyse_image(analyzer: LocalAnalyzer, task: str, key: str = "kiwi.jpg", **header) -> dict:
    """The result of one image task on a sample image."""
    prompt = make_prompt(task, "image", name=header.pop("name", key), **header)
    return result_of(analyzer.respond(make_request(prompt, "image", key=key)))


@pytest.mark.parametrize("name", VIDEOS)
def test_chapters_are_contiguous_and_cover_the_whole_video(analyzer, name):
    chapters = analyse(analyzer, "chapters", name)["chapters"]
    duration = container_duration(name)
    assert chapters, "at least one chapter"
    assert chapters[0]["start_seconds"] == 0.0
    assert chapters[-1]["end_seconds"] == pytest.approx(duration, abs=0.01)
    for chapter, following in zip(chapters, chapters[1:]):
        assert chapter["end_seconds"] == following["start_seconds"]
    for number, chapter in enumerate(chapters, 1):
        assert 0 <= chapter["start_seconds"] < chapter["end_seconds"] <= duration + 0.01
        assert chapter["title"].startswith(f"Scene {number} (")
        assert chapter["summary"].startswith("Local analysis (not Nova): ")


def test_chapter_counts_follow_the_activity_in_the_samples(analyzer):
    counts = {name: len(analyse(analyzer, "chapters", name)["chapters"]) for name in VIDEOS}
    # Cars pass a fixed camera a few times; people cross a room one by one for over two minutes.
    assert 2 <= counts["car-detection.mp4"] <= 5
    assert 1 <= counts["bottle-detection.mp4"] <= 4
    assert 6 <= counts["one-by-one-person-detection.mp4"] <= 16


@pytest.mark.parametrize("name", VIDEOS)
def test_has_audio_is_true_only_for_the_video_with_an_audio_track(analyzer, name):
    visual = analyse(analyzer, "elements", name)["visual"]
    assert visual["has_audio"] is (name == "car-detection.mp4")
    assert visual["brightness"] in ("dark", "normal", "bright")
    assert visual["motion"] in ("static", "low", "medium", "high")
    assert len(visual["dominant_colors"]) == 3
    assert all(len(c) == 7 and c.startswith("#") and int(c[1:], 16) >= 0 for c in visual["dominant_colors"])


@pytest.mark.parametrize("task", list(VIDEO_KEYS))
def test_each_video_task_returns_exactly_the_contract_keys(analyzer, task):
    assert set(analyse(analyzer, task)) == VIDEO_KEYS[task]


def test_chapter_and_visual_objects_have_the_contract_keys(analyzer):
    result = analyse(analyzer, "combined")
    for chapter in result["chapters"]["chapters"]:
        assert set(chapter) == {"title", "start_seconds", "end_seconds", "summary", "key_points"}
    assert set(result["elements"]["visual"]) == {"dominant_colors", "brightness", "motion", "has_audio"}
    assert set(result["elements"]["people"]) == {"max_count", "descriptions"}
    assert set(result["search_metadata"]["recording_date"]) == {"date", "source", "confidence"}
    assert set(result["search_metadata"]["project"]) == {"name", "customer", "code"}


def test_combined_equals_the_five_single_results(analyzer):
    combined = analyse(analyzer, "combined", "bottle-detection.mp4")
    assert set(combined) == set(PARTS)
    for part in PARTS:
        assert combined[part] == analyse(analyzer, part, "bottle-detection.mp4")


@pytest.mark.parametrize("task", list(IMAGE_KEYS))
def test_each_image_task_returns_exactly_the_contract_keys(analyzer, task):
    assert set(analyse_image(analyzer, task)) == IMAGE_KEYS[task]


def test_image_description_reports_size_orientation_and_exif(analyzer):
    result = analyse_image(analyzer, "description", "faust_github.jpg")
    assert result["text"].startswith("Local analysis (not Nova): landscape JPEG image of 800×598 pixels")
    assert "Motorola Milestone" in result["text"] and "2011-03-27" in result["text"]
    assert result["scene_type"] is None and result["primary_subject"] is None


def test_image_metadata_uses_header_exif_and_gps(analyzer):
    result = analyse_image(analyzer, "metadata", "Bubbles.jpg", exif_date="2019-07-01 10:00:00",
                           gps="47.500000,8.250000", camera="Canon EOS 5D")
    assert result["recording_date"] == {"date": "2019-07-01", "source": "exif", "confidence": 0.7}
    assert result["location"]["gps"] == {"latitude": 47.5, "longitude": 8.25}
    assert result["camera"] == "Canon EOS 5D"


def test_video_usage_follows_nova_token_accounting(analyzer):
    prompt = make_prompt("summary", name="car-detection.mp4")
    response = analyzer.respond(make_request(prompt))
    usage = response["usage"]
    frames = math.ceil(container_duration("car-detection.mp4"))
    assert usage["inputTokens"] == 288 * frames + len(prompt) // 4 + len(SYSTEM) // 4
    assert usage["outputTokens"] == len(response["output"]["message"]["content"][0]["text"]) // 4
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["role"] == "assistant"


def test_image_usage_grows_with_image_size_up_to_the_cap(analyzer):
    prompt = make_prompt("description", "image", name="x.jpg")
    small = analyzer.respond(make_request(prompt, "image", key="kiwi.jpg"))["usage"]["inputTokens"]
    large = analyzer.respond(make_request(prompt, "image", key="Wall.jpg"))["usage"]["inputTokens"]
    text_tokens = len(prompt) // 4 + len(SYSTEM) // 4
    assert 800 <= small - text_tokens < large - text_tokens <= 2600


def test_everything_user_visible_says_it_is_local(analyzer):
    result = analyse(analyzer, "combined", "one-by-one-person-detection.mp4")
    assert result["summary"]["text"].startswith("Local analysis (not Nova): ")
    assert "local analyser" in result["waterfall_classification"]["unknown_reasons"]["family"]
    assert analyse_image(analyzer, "description")["text"].startswith("Local analysis (not Nova): ")


@pytest.mark.parametrize("name, expected", [
    ("site_2023-05-14_pour.mp4", "2023-05-14"),
    ("site 2023_05_14.mp4", "2023-05-14"),
    ("pour 14.05.2023.mp4", "2023-05-14"),
    ("VID_20230514_101010.mp4", "2023-05-14"),
])
def test_recording_date_is_read_from_the_file_name(analyzer, name, expected):
    date = analyse(analyzer, "search_metadata", name=name)["recording_date"]
    assert date["date"] == expected and date["source"] == "filename"
    assert 0.5 <= date["confidence"] <= 0.9


def test_image_date_from_camera_style_file_name(analyzer):
    date = analyse_image(analyzer, "metadata", name="IMG_20230514_101010.jpg")["recording_date"]
    assert date["date"] == "2023-05-14" and date["source"] == "filename"


def test_folder_gives_a_path_date_and_a_low_confidence_project(analyzer):
    result = analyse(analyzer, "search_metadata", name="pour.mp4", folder="clients/Smith Pool/2023-05-14")
    assert result["recording_date"]["date"] == "2023-05-14" and result["recording_date"]["source"] == "path"
    assert result["project"] == {"name": "Smith Pool", "customer": None, "code": None}
    assert {"type": "project", "value": "Smith Pool", "confidence": 0.3} in result["entities"]
    assert "pour" in result["keywords"]


def test_without_any_date_the_recording_date_is_unknown(analyzer):
    date = analyse_image(analyzer, "metadata", "Bubbles.jpg")["recording_date"]
    assert date == {"date": None, "source": "unknown", "confidence": 0.0}


def test_video_date_falls_back_to_the_container(analyzer):
    date = analyse(analyzer, "search_metadata", "car-detection.mp4", name="clip.mp4")["recording_date"]
    assert date["source"] == "container" and date["date"] == "2018-04-19"


def test_waterfall_classification_stays_unknown(analyzer):
    result = analyse(analyzer, "waterfall_classification", name="genesis grotto slide build.mp4")
    dimensions = ("family", "tier_level", "functional_type", "sub_type")
    assert all(result[d] == "Unknown" for d in dimensions)
    assert all(value == 0.0 for value in result["confidence"].values())
    assert set(result["unknown_reasons"]) == set(dimensions)
    assert result["search_tags"] == ["genesis", "grotto", "slide", "build"]
    assert result["product_keywords"] == ["genesis", "grotto", "slide"]
    assert (result["content_type"], result["skill_level"]) == ("other", "unknown")


def test_elements_invent_no_equipment_people_or_speakers(analyzer):
    result = analyse(analyzer, "elements", name="pump install.mp4")
    assert result["equipment"] == [] and result["speakers"] == []
    assert result["people"] == {"max_count": None, "descriptions": []}
    assert [topic["name"] for topic in result["topics"]] == ["pump", "install"]


def test_summary_length_follows_depth(analyzer):
    words = {depth: len(analyse(analyzer, "summary", "one-by-one-person-detection.mp4", depth=depth)["text"].split())
             for depth in ("brief", "standard", "detailed")}
    assert words["brief"] <= 50
    assert words["brief"] < words["standard"] < words["detailed"]


def test_other_languages_are_noted_not_translated(analyzer):
    result = analyse(analyzer, "summary", language="German")
    assert result["language"] == "en"
    assert "Requested language 'German' is not available offline" in result["text"]


@pytest.mark.parametrize("change", [
    "assistant_role", "two_media_blocks", "no_media", "no_text", "unknown_task", "image_task_on_video",
    "media_mismatch", "no_header", "bad_base64", "bad_format", "other_block",
])
def test_malformed_requests_raise_invalid_request(analyzer, change):
    request = make_request(make_prompt("summary"))
    content = request["messages"][0]["content"]
    if change == "assistant_role":
        request["messages"][0]["role"] = "assistant"
    elif change == "two_media_blocks":
        content.insert(0, dict(content[0]))
    elif change == "no_media":
        content.pop(0)
    elif change == "no_text":
        content.pop()
    elif change == "unknown_task":
        content[1]["text"] = make_prompt("transcribe")
    elif change == "image_task_on_video":
        content[1]["text"] = make_prompt("description")
    elif change == "media_mismatch":
        content[1]["text"] = make_prompt("elements", "image")
    elif change == "no_header":
        content[1]["text"] = "Summarise this video."
    elif change == "bad_base64":
        content[0]["video"]["source"] = {"bytes": "not base64!!"}
    elif change == "bad_format":
        content[0]["video"]["format"] = "avi"
    elif change == "other_block":
        content.append({"document": {"format": "pdf"}})
    with pytest.raises(AnalyzerError) as caught:
        analyzer.respond(request)
    assert caught.value.code == "invalid_request"


def test_missing_media_raises_media_not_found(analyzer):
    with pytest.raises(AnalyzerError) as caught:
        analyzer.respond(make_request(make_prompt("summary"), key="gone/nowhere.mp4"))
    assert caught.value.code == "media_not_found"


def test_a_file_that_is_not_a_video_raises_decode_error(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(b"not a video at all " * 200)
    with pytest.raises(AnalyzerError) as caught:
        LocalAnalyzer(resolver(tmp_path)).respond(make_request(make_prompt("summary"), key="noise.mp4"))
    assert caught.value.code == "decode_error"


def test_a_truncated_video_is_analysed_as_far_as_it_decodes(tmp_path):
    data = (MEDIA / "car-detection.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])  # its moov box is at the front
    result = result_of(LocalAnalyzer(resolver(tmp_path)).respond(
        make_request(make_prompt("combined"), key="cut.mp4")))
    chapters = result["chapters"]["chapters"]
    assert chapters[-1]["title"].endswith("not decodable")
    assert chapters[-1]["end_seconds"] == pytest.approx(container_duration("car-detection.mp4"), abs=0.01)
    assert 5 < chapters[-1]["start_seconds"] < 25
    assert "could be decoded" in result["summary"]["text"]


def test_the_same_request_gets_the_same_response_from_fresh_analysers():
    request = make_request(make_prompt("combined", name="site_2023-05-14.mp4"))
    first = LocalAnalyzer(resolver(MEDIA)).respond(request)
    assert LocalAnalyzer(resolver(MEDIA)).respond(request) == first


def test_inline_video_bytes_give_the_same_result_as_the_stored_file(analyzer):
    prompt = make_prompt("chapters")
    encoded = base64.b64encode((MEDIA / "car-detection.mp4").read_bytes()).decode("ascii")
    inline = analyzer.respond(make_request(prompt, source={"bytes": encoded}))
    assert result_of(inline) == result_of(analyzer.respond(make_request(prompt)))


def test_inline_image_bytes_are_analysed(analyzer):
    encoded = base64.b64encode((MEDIA / "kiwi.jpg").read_bytes()).decode("ascii")
    request = make_request(make_prompt("elements", "image", name="kiwi.jpg"), "image", source={"bytes": encoded})
    assert result_of(analyzer.respond(request)) == analyse_image(analyzer, "elements", "kiwi.jpg")


def test_one_video_is_decoded_once_for_all_task_types(tmp_path, monkeypatch):
    shutil.copy(MEDIA / "bottle-detection.mp4", tmp_path / "clip.mp4")
    calls = []
    real = local_analyzer.extract_video_facts
    monkeypatch.setattr(local_analyzer, "extract_video_facts", lambda *a, **k: calls.append(a) or real(*a, **k))
    analyzer = LocalAnalyzer(resolver(tmp_path))
    for task in (*PARTS, "combined"):
        analyzer.respond(make_request(make_prompt(task), key="clip.mp4"))
    assert len(calls) == 1
    os.utime(tmp_path / "clip.mp4", ns=(1_000_000_000, 1_000_000_000))
    analyzer.respond(make_request(make_prompt("summary"), key="clip.mp4"))
    assert len(calls) == 2, "a changed file is decoded again"


def test_max_tokens_cuts_the_answer_like_nova(analyzer):
    request = make_request(make_prompt("summary"))
    request["inferenceConfig"]["maxTokens"] = 10
    response = analyzer.respond(request)
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 10
    assert len(response["output"]["message"]["content"][0]["text"]) == 40
