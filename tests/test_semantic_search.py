"""Semantic and hybrid search, find similar and moment frames, on the sample media embedded by the local
backend (tests/embedding_support.py): rankings, fusion, filters, errors, deletes and the backfill."""
from __future__ import annotations

import pytest

from app.db import connect
from app.services import search_modes
from embedding_support import NEAR_DUPLICATE, build_library, drive_jobs

VIDEOS = {"car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    app, client, ids = build_library(tmp_path_factory.mktemp("semantic"))
    yield app, client, ids
    app.extensions["services"].tasks.stop(timeout=30)


def get(client, url, **params):
    response = client.get(url, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(body):
    return [item["file"]["name"] for item in body["items"]]


def analysis_text(client, file_id):
    results = get(client, f"/api/files/{file_id}/analyses")["items"][0]["results"]
    return (results.get("summary") or results.get("description"))["text"]


def test_everything_is_embedded_with_times_for_video_segments(library):
    app, client, ids = library
    status = get(client, "/api/embeddings")
    assert status["backend"] == {"name": "local", "model": "local-embeddings-v1", "dimension": 1024}
    assert status["files"] == 8 and status["by_kind"]["image"] == 5 and status["pending_files"] == 0
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    segments = conn.execute("SELECT start_seconds, end_seconds FROM embeddings WHERE kind = 'video' AND file_id = ?"
                            " ORDER BY start_seconds", (ids["car-detection.mp4"],)).fetchall()
    assert [tuple(s) for s in segments] == [(0.0, 15.0), (15.0, 30.0), (30.0, pytest.approx(30.2, abs=0.1))]
    assert conn.execute("SELECT COUNT(*) FROM embeddings WHERE kind = 'chapter' AND start_seconds IS NULL").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4",
                                  "kiwi.jpg", "Bubbles.jpg", "faust_github.jpg"])
def test_a_query_built_from_a_files_analysis_finds_that_file_first(library, name):
    _app, client, ids = library
    body = get(client, "/api/search", q=analysis_text(client, ids[name])[:400], mode="semantic")
    assert body["mode"] == "semantic" and body["backend"]["name"] == "local"
    assert names(body)[0] == name
    assert body["items"][0]["moments"], body["items"][0]


def test_the_two_similar_jpegs_rank_each_other_above_the_videos(library):
    _app, client, ids = library
    for name, twin in (("Wall.jpg", NEAR_DUPLICATE), (NEAR_DUPLICATE, "Wall.jpg")):
        body = get(client, f"/api/files/{ids[name]}/similar")
        ranked = names(body)
        assert ranked[0] == twin, ranked
        assert name not in ranked
        assert all(ranked.index(twin) < ranked.index(video) for video in VIDEOS if video in ranked)
        assert body["source"]["kind"] == "image" and body["backend"]["name"] == "local"


def test_similar_to_the_moment_playing_uses_that_segment(library):
    _app, client, ids = library
    body = get(client, f"/api/files/{ids['car-detection.mp4']}/similar", t=20)
    assert body["source"] == {"kind": "video", "start_seconds": 15.0, "end_seconds": 30.0}
    assert body["items"] and "car-detection.mp4" not in names(body)
    whole = get(client, f"/api/files/{ids['car-detection.mp4']}/similar")
    assert whole["source"]["start_seconds"] is None


def test_a_text_moment_links_to_its_chapter_time_and_a_frame(library):
    _app, client, ids = library
    chapter = get(client, f"/api/files/{ids['one-by-one-person-detection.mp4']}/analyses")["items"][0][
        "results"]["chapters"]["chapters"][3]
    body = get(client, "/api/search", q=f"{chapter['title']} {chapter['summary']}", mode="semantic")
    timed = [m for item in body["items"] for m in item["moments"] if m["start_seconds"] is not None]
    assert timed and all(m["url"].endswith(f"?t={m['url'].split('?t=')[1]}") for m in timed)
    frame = timed[0]["frame_url"]
    response = _app_client(library).get(frame)
    assert response.status_code == 200 and response.mimetype == "image/jpeg" and response.data[:2] == b"\xff\xd8"


def _app_client(library):
    return library[1]


def test_hybrid_fuses_keyword_and_semantic_rankings_by_reciprocal_rank(library):
    _app, client, _ids = library
    q = "detection grey video"
    words = names(get(client, "/api/search", q=q, mode="keyword", per_page=50))
    meaning = names(get(client, "/api/search", q=q, mode="semantic", per_page=50))
    expected: dict[str, float] = {}
    for ranking in (words, meaning):
        for rank, name in enumerate(ranking, 1):
            expected[name] = expected.get(name, 0.0) + 1 / (search_modes.RRF_K + rank)
    body = get(client, "/api/search", q=q, per_page=50)
    assert body["mode"] == "hybrid"
    assert names(body) == sorted(expected, key=lambda n: -expected[n])
    assert [item["score"] for item in body["items"]] == pytest.approx(sorted(expected.values(), reverse=True), abs=1e-6)
    both = [item for item in body["items"] if item["hits"] and item["moments"]]
    assert both and all(item["file"]["name"] in words and item["file"]["name"] in meaning for item in both)


def test_keyword_mode_keeps_todays_shape_and_says_what_ran(library):
    _app, client, _ids = library
    body = get(client, "/api/search", q="kiwi", mode="keyword")
    assert names(body) == ["kiwi.jpg"] and body["items"][0]["hits"][0]["field"] == "name"
    assert body["mode"] == "keyword" and body["backend"]["model"] == "local-embeddings-v1" and "moments" not in body["items"][0]


@pytest.mark.parametrize("mode", ["vector", "KEYWORDS", "all"])
def test_an_unknown_mode_is_a_400(library, mode):
    _app, client, _ids = library
    response = client.get("/api/search", query_string={"q": "kiwi", "mode": mode})
    assert response.status_code == 400 and response.get_json()["error"]["details"]["parameter"] == "mode"


def test_library_filters_apply_to_semantic_and_hybrid_results(library):
    app, client, _ids = library
    q = "grey picture with sky and stone"
    images = names(get(client, "/api/search", q=q, mode="semantic", media_type="image"))
    assert images and set(images) <= {"Wall.jpg", NEAR_DUPLICATE, "kiwi.jpg", "Bubbles.jpg", "faust_github.jpg"}
    videos = names(get(client, "/api/search", q=q, mode="hybrid", media_type="video"))
    assert videos and set(videos) <= VIDEOS
    folder = str(app.config["SETTINGS"].LIBRARY_ROOTS[0] / "samples")
    assert names(get(client, "/api/search", q=q, mode="semantic", directory=folder))
    assert names(get(client, "/api/search", q=q, mode="semantic", directory="/nowhere")) == []
    assert names(get(client, "/api/search", q=q, mode="semantic", imported_to="2000-01-01")) == []
    assert names(get(client, "/api/search", q=q, mode="hybrid", imported_from="2000-01-01"))
    assert client.get("/api/search", query_string={"q": q, "created_from": "yesterday"}).status_code == 400


def test_frames_are_validated(library):
    _app, client, ids = library
    video = ids["bottle-detection.mp4"]
    assert client.get(f"/api/files/{video}/frame?t=1e9").status_code == 400
    assert client.get(f"/api/files/{video}/frame?t=-1").status_code == 400
    assert client.get(f"/api/files/{video}/frame?t=nan").status_code == 400
    assert client.get(f"/api/files/{ids['kiwi.jpg']}/frame?t=1").status_code == 400
    assert client.get("/api/files/999999/frame?t=1").status_code == 404
    assert client.get(f"/api/files/{video}/frame?t=39.9").status_code == 200


def test_backfill_needs_the_estimate_confirmed_and_skips_what_is_embedded(library):
    _app, client, _ids = library
    estimate = get(client, "/api/embeddings/estimate")
    assert estimate["files"] == 0 and estimate["cost_usd"]["charged"] is False
    everything = get(client, "/api/embeddings/estimate", missing_only="false")
    assert (everything["images"], everything["videos"], everything["text_files"]) == (5, 3, 8)
    assert everything["video_segments"] == 3 + 3 + 10  # 30.2 s, 39.9 s and 139.4 s in 15 s segments and everything["text_tokens"] > 0
    assert everything["cost_usd"]["unknown"] == ["images", "video"] and everything["cost_usd"]["bedrock"]["text"] > 0
    refused = client.post("/api/embeddings/backfill", json={})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "confirm_required"
    assert client.post("/api/embeddings/backfill", json={"confirm": True, "missing_only": "no"}).status_code == 400


def test_deleting_a_file_removes_its_vectors_and_its_results(library):
    app, client, ids = library
    victim = ids["bottle-detection.mp4"]
    q = analysis_text(client, victim)[:400]
    assert names(get(client, "/api/search", q=q, mode="semantic"))[0] == "bottle-detection.mp4"
    assert client.delete(f"/api/files/{victim}").status_code == 200
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    assert conn.execute("SELECT COUNT(*) FROM embeddings WHERE file_id = ?", (victim,)).fetchone()[0] == 0
    assert "bottle-detection.mp4" not in names(get(client, "/api/search", q=q, mode="semantic"))
    drive_jobs(app, rounds=1)  # nothing left to do for it
