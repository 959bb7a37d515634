"""Subtitles a video already has become its transcript at import, with no request and no cost: a sidecar
.srt/.vtt beside it or a subtitle stream inside it. Spoken words are searchable and downloadable."""
from __future__ import annotations

import os
import shutil

import pytest

from app.db import connect
from app.media.subtitles import decode_subtitle_bytes, parse_cues, sidecar_candidates
from helpers import import_folder, wait_for_task
from speech_support import write_srt
from transcript_support import import_library, library_with, speech_media, transcript_of  # noqa: F401


def _search(client, q):
    response = client.get("/api/search", query_string={"q": q})
    assert response.status_code == 200
    return response.get_json()


# ---- parsing ---------------------------------------------------------------------------------

def test_srt_and_vtt_cues_are_read_as_plain_text_with_their_times():
    srt = ("1\r\n00:00:01,500 --> 00:00:03,000\r\n<i>Hello</i> {\\an8}<font color=red>there</font>\r\n"
           "second line\r\n\r\n"
           "2\r\n00:01:02,250 --> 01:00:03.000\r\nR&amp;D &lt;b&gt;not a tag&lt;/b&gt;\r\n")
    cues = parse_cues(srt)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.5, 3.0, "Hello there second line"), (62.25, 3603.0, "R&D <b>not a tag</b>")]
    vtt = ("WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.500 align:start\n<v Roger Bingham>We are in "
           "<c.loud>New York</c>\n\n00:03.000 --> 00:04.000\nbell\x07 and \u202eoverride\n")
    cues = parse_cues(vtt)
    assert [(c.start, c.text, c.speaker) for c in cues] == [
        (1.0, "We are in New York", "Roger Bingham"), (3.0, "bell and override", None)]


def test_subtitle_files_in_any_common_encoding_are_decoded():
    assert decode_subtitle_bytes("\ufeffcafé".encode("utf-8")) == "café"
    assert decode_subtitle_bytes("café".encode("utf-16")) == "café"
    assert decode_subtitle_bytes("café".encode("cp1252")) == "café"


def test_sidecars_are_found_by_the_video_stem_in_any_case(tmp_path):
    for name in ("clip.mp4", "clip.SRT", "clip.vtt", "clip.en.srt", "clip.final.srt", "other.srt", "clipper.srt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in sidecar_candidates(tmp_path / "clip.mp4")] == ["clip.SRT", "clip.vtt", "clip.en.srt"]


# ---- picked up at import ---------------------------------------------------------------------

def test_a_sidecar_becomes_the_transcript_at_import_and_a_spoken_phrase_is_searchable(client, library_root,
                                                                                      speech_media):
    ids = import_library(client, library_with(library_root, speech_media, sidecar=True))
    body = transcript_of(client, ids["walkthrough.mp4"])
    transcript = body["transcript"]
    assert transcript["source"] == "sidecar" and transcript["source_detail"] == "walkthrough.srt"
    assert transcript["cost_usd"] == 0 and body["job"] is None  # no request, no job, no cost
    assert [(s["start_seconds"], s["text"]) for s in transcript["segments"]] == [
        (start, text) for start, _end, text in speech_media.spoken.cues]
    # "calibration" is only spoken: it is in no file name, folder or analysis.
    found = _search(client, "calibration overdue")
    assert [item["file"]["name"] for item in found["items"]] == ["walkthrough.mp4"]
    hit = found["items"][0]["hits"][0]
    assert hit["field"] == "transcript" and hit["field_label"] == "Transcript"
    assert hit["url"] == f"/files/{ids['walkthrough.mp4']}?t={speech_media.spoken.cues[1][0]:g}"
    assert any(s["match"] and s["text"].lower() == "calibration" for s in hit["snippet"])


def test_a_subtitle_stream_inside_an_mkv_becomes_the_transcript(client, library_root, speech_media):
    folder = library_root / "mkv"
    folder.mkdir()
    shutil.copy2(speech_media.mkv, folder / "briefing.mkv")
    ids = import_library(client, folder)
    transcript = transcript_of(client, ids["briefing.mkv"])["transcript"]
    assert transcript["source"] == "subtitle_stream" and transcript["language"] == "eng"
    assert "torque wrench calibration is overdue" in transcript["text"]
    assert _search(client, "conveyor")["items"][0]["file"]["name"] == "briefing.mkv"


def test_a_sidecar_added_later_is_picked_up_by_the_next_import(client, library_root, speech_media):
    folder = library_with(library_root, speech_media)
    ids = import_library(client, folder)
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"] is None
    assert _search(client, "calibration")["total"] == 0  # the file is indexed, without words
    shutil.copy2(speech_media.srt, folder / "walkthrough.srt")
    import_library(client, folder)
    assert transcript_of(client, ids["walkthrough.mp4"])["transcript"]["source"] == "sidecar"
    assert _search(client, "calibration")["total"] == 1  # the new transcript re-indexed its file


def test_a_sidecar_symlink_leading_outside_the_roots_is_not_read(client, tmp_path, library_root, speech_media):
    secret = tmp_path / "outside" / "secret.srt"
    secret.parent.mkdir()
    write_srt(secret, [(0.5, 2.0, "password hunter2")])
    folder = library_with(library_root, speech_media)
    os.symlink(secret, folder / "walkthrough.srt")
    job = import_folder(client, folder, generate_proxies=False)
    subtitles = wait_for_task(client, job["result"]["subtitles_task_id"])
    assert subtitles["counters"]["none"] == 1
    assert any("LIBRARY_ROOTS" in f["reason"] and "walkthrough.srt" in f["reason"] for f in subtitles["failed"])
    file_id = client.get("/api/files").get_json()["items"][0]["id"]
    assert transcript_of(client, file_id)["transcript"] is None
    assert _search(client, "hunter2")["total"] == 0


# ---- in the product --------------------------------------------------------------------------

def test_a_transcript_downloads_as_srt_vtt_and_text(client, library_root, speech_media):
    folder = library_with(library_root, speech_media)
    write_srt(folder / "walkthrough.srt", [(1.0, 2.5, "Tom & Jerry --> <b>hi</b>"), (3.0, 4.0, "second")])
    file_id = import_library(client, folder)["walkthrough.mp4"]
    srt = client.get(f"/api/files/{file_id}/transcript?format=srt")
    assert srt.status_code == 200 and srt.headers["Content-Type"].startswith("application/x-subrip")
    assert srt.headers["Content-Disposition"] == 'attachment; filename="walkthrough.transcript.srt"'
    assert srt.get_data(as_text=True) == ("1\n00:00:01,000 --> 00:00:02,500\nTom & Jerry -> hi\n\n"
                                          "2\n00:00:03,000 --> 00:00:04,000\nsecond\n")
    vtt = client.get(f"/api/files/{file_id}/transcript?format=vtt").get_data(as_text=True)
    assert vtt.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nTom &amp; Jerry -&gt; hi\n")
    txt = client.get(f"/api/files/{file_id}/transcript?format=txt").get_data(as_text=True)
    assert txt == "[00:00:01] Tom & Jerry -> hi\n[00:00:03] second\n"
    assert client.get(f"/api/files/{file_id}/transcript?format=doc").status_code == 400
    assert client.get("/api/files/999999/transcript").status_code == 404


def test_hostile_subtitle_text_is_stored_as_plain_text(client, library_root, speech_media):
    folder = library_with(library_root, speech_media)
    hostile = '&lt;img src=x onerror="alert(1)"&gt; \x1b[31m end'
    write_srt(folder / "walkthrough.srt", [(1.0, 2.0, hostile)])
    file_id = import_library(client, folder)["walkthrough.mp4"]
    segment = transcript_of(client, file_id)["transcript"]["segments"][0]
    assert segment["text"] == '<img src=x onerror="alert(1)"> [31m end'  # literal text, no control character
    vtt = client.get(f"/api/files/{file_id}/transcript?format=vtt").get_data(as_text=True)
    assert "&lt;img src=x" in vtt and "<img" not in vtt


def test_a_file_without_a_transcript_has_nothing_to_download(client, library_root, speech_media):
    file_id = import_library(client, library_with(library_root, speech_media))["walkthrough.mp4"]
    response = client.get(f"/api/files/{file_id}/transcript?format=srt")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "transcript_not_found"
    body = transcript_of(client, file_id)
    assert body["transcript"] is None and body["media_type"] == "video" and body["has_audio"] is True


def test_deleting_a_file_deletes_its_transcript_and_its_search_rows(app, client, library_root, speech_media):
    file_id = import_library(client, library_with(library_root, speech_media, sidecar=True))["walkthrough.mp4"]
    assert _search(client, "torque")["total"] == 1
    assert client.delete(f"/api/files/{file_id}").status_code == 200
    assert _search(client, "torque")["total"] == 0
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        assert conn.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM transcript_segments").fetchone()[0] == 0
    finally:
        conn.close()


def test_the_cli_prints_a_transcript(client, runner, library_root, speech_media):
    file_id = import_library(client, library_with(library_root, speech_media, sidecar=True))["walkthrough.mp4"]
    result = runner.invoke(args=["transcript", str(file_id), "--format", "txt"])
    assert result.exit_code == 0, result.output
    assert "[00:00:04] The torque wrench calibration is overdue." in result.output


@pytest.mark.parametrize("import_proxies", [True, False])
def test_the_subtitles_pickup_follows_every_import(client, library_root, speech_media, import_proxies):
    folder = library_with(library_root, speech_media, sidecar=True)
    job = import_folder(client, folder, generate_proxies=import_proxies)
    assert ("proxies_task_id" in job["result"]) is import_proxies
    assert wait_for_task(client, job["result"]["subtitles_task_id"])["counters"]["sidecar"] == 1


def test_an_uploaded_video_with_a_subtitle_stream_gets_its_transcript(client, speech_media):
    import io

    data = {"files": [(io.BytesIO(speech_media.mkv.read_bytes()), "briefing.mkv")]}
    response = client.post("/api/files/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    file_id = response.get_json()["items"][0]["id"]
    tasks = [t for t in client.get("/api/tasks").get_json()["items"] if t["kind"] == "subtitles"]
    assert tasks and tasks[0]["params"] == {"file_ids": [file_id]}
    assert wait_for_task(client, tasks[0]["task_id"])["counters"]["subtitle_stream"] == 1
    assert transcript_of(client, file_id)["transcript"]["source"] == "subtitle_stream"
