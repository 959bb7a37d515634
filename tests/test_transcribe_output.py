"""Amazon Transcribe's output JSON read into timed lines (app/inference/transcribe/output.py), and the offline
stand-in's measure of where there is sound (app/inference/transcribe/_vad.py)."""
from __future__ import annotations

import pytest

from app.inference.transcribe._vad import sound_segments
from app.inference.transcribe.base import JobRequest, validate_request
from app.inference.base import ValidationError
from app.inference.transcribe.output import OutputError, build_output, parse_output


def word(content, start, end, speaker=None):
    item = {"type": "pronunciation", "start_time": f"{start}", "end_time": f"{end}",
            "alternatives": [{"content": content, "confidence": "0.9"}]}
    if speaker:
        item["speaker_label"] = speaker
    return item


def mark(content):
    return {"type": "punctuation", "alternatives": [{"content": content, "confidence": "0.0"}]}


def test_words_become_lines_at_speaker_changes_pauses_and_sentence_ends():
    items = [word("Hi", 0.5, 0.8, "spk_0"), word("there", 0.8, 1.1, "spk_0"), mark(","),
             word("welcome", 1.2, 1.6, "spk_0"), mark("."),
             word("Thanks", 1.7, 2.0, "spk_1"), mark("!"),
             word("After", 4.0, 4.3, "spk_1"), word("a", 4.3, 4.4, "spk_1"), word("pause", 4.4, 4.8, "spk_1")]
    parsed = parse_output({"results": {"transcripts": [{"transcript": "Hi there, welcome. Thanks! After a pause"}],
                                       "items": items, "language_code": "en-US"}})
    assert [(s.start, s.end, s.speaker, s.text) for s in parsed.segments] == [
        (0.5, 1.6, "spk_0", "Hi there, welcome."), (1.7, 2.0, "spk_1", "Thanks!"),
        (4.0, 4.8, "spk_1", "After a pause")]
    assert parsed.text == "Hi there, welcome. Thanks! After a pause" and parsed.language == "en-US"


def test_a_long_monologue_is_cut_into_lines_of_bounded_length():
    items = []
    for n in range(200):
        items.append(word(f"word{n}", n * 0.3, n * 0.3 + 0.25))
        if n % 30 == 29:
            items.append(mark("."))
    segments = parse_output({"results": {"items": items}}).segments
    assert len(segments) > 5
    assert all(s.end - s.start <= 12.0 and len(s.text) <= 160 for s in segments)
    assert " ".join(s.text for s in segments).replace(".", "").split() == [f"word{n}" for n in range(200)]


def test_speakers_come_from_speaker_labels_when_items_carry_none():
    labels = {"speakers": 2, "segments": [{"start_time": "0.0", "end_time": "1.0", "speaker_label": "spk_0"},
                                          {"start_time": "1.0", "end_time": "3.0", "speaker_label": "spk_1"}]}
    parsed = parse_output({"results": {"items": [word("one", 0.1, 0.5), word("two", 1.2, 1.5)],
                                       "speaker_labels": labels}})
    assert [(s.speaker, s.text) for s in parsed.segments] == [("spk_0", "one"), ("spk_1", "two")]


def test_language_identification_gives_the_code_and_its_score():
    parsed = parse_output({"results": {"items": [], "language_identification": [
        {"code": "de-DE", "score": "0.12"}, {"code": "en-GB", "score": "0.81"}]}})
    assert (parsed.language, parsed.language_score) == ("en-GB", 0.81)


def test_without_words_the_audio_segments_are_the_lines():
    output = build_output("mktx-f1-x", [(0.7, 3.4), (4.8, 7.4)], language_code=None)
    parsed = parse_output(output)
    assert output["status"] == "COMPLETED" and output["results"]["items"] == []
    assert [(s.start, s.end, s.text) for s in parsed.segments] == [(0.7, 3.4, ""), (4.8, 7.4, "")]
    assert parsed.text == "" and parsed.language is None


@pytest.mark.parametrize("document", [None, [], {"jobName": "x"}, {"results": "nope"}])
def test_a_document_without_results_is_refused(document):
    with pytest.raises(OutputError):
        parse_output(document)


def test_malformed_items_are_skipped_not_fatal():
    items = [{"type": "pronunciation", "start_time": "abc", "end_time": "1", "alternatives": [{"content": "x"}]},
             {"type": "pronunciation", "start_time": "-1", "end_time": "1", "alternatives": [{"content": "y"}]},
             "junk", {"type": "pronunciation", "start_time": "1", "end_time": "2", "alternatives": []},
             word("ok", 2.0, 2.5)]
    assert [s.text for s in parse_output({"results": {"items": items}}).segments] == ["ok"]


def test_sound_segments_follow_the_level_above_the_noise_floor():
    frame = 0.02
    quiet, loud = -70.0, -20.0
    levels = [quiet] * 50 + [loud] * 100 + [quiet] * 10 + [loud] * 50 + [quiet] * 100 + [loud] * 5 + [quiet] * 50
    # 2 s of sound, a 0.2 s pause (joined), 1 s of sound, 2 s of quiet, then a 0.1 s click (dropped).
    assert sound_segments(levels, frame) == [(0.9, 4.3)]
    assert sound_segments([-120.0] * 500, frame) == []
    long = sound_segments([loud] * 2000, frame)  # 40 s of sound: pieces of at most 15 s
    assert len(long) == 3 and all(end - start <= 15.0 for start, end in long)


def test_job_requests_are_checked_as_transcribe_would():
    good = JobRequest(name="mktx-f1-20261201-ab", media_uri="s3://b-1/transcribe/input/x.flac", media_format="flac",
                      output_bucket="b-1", output_key="transcribe/output/x.json", max_speakers=10)
    assert validate_request(good) is good
    for bad in (good.__class__(**{**good.__dict__, "name": "has space"}),
                good.__class__(**{**good.__dict__, "media_format": "mov"}),
                good.__class__(**{**good.__dict__, "output_key": "a b.json"}),
                good.__class__(**{**good.__dict__, "max_speakers": 31}),
                good.__class__(**{**good.__dict__, "language_code": "english"})):
        with pytest.raises(ValidationError):
            validate_request(bad)
