"""Full-text search: what it finds, how it ranks and highlights, and that no input can break it."""
from __future__ import annotations

import shutil

import pytest

from app.db import connect
from app.db import files as files_db
from app.db import transaction
from app.services import search as search_service
from tests.conftest import SAMPLE_MEDIA
from tests.helpers import import_folder, wait_for_task

HOSTILE_QUERIES = [
    '"', '""', "'", "(", ")", "((a", 'a" OR "b', "AND", "OR", "NOT", "NEAR", "NEAR(a b, 2)", "a AND", "OR b",
    "*", "a*", "*a", "^a", "a:b", "name:car", "text:car", "-car", "+car", "{a b}", "[a]", "a\\b", "%", "_",
    "\x00", "\x01car\x02", "café", "漢字", "🚗", "ﬁ", "İstanbul", "a" * 2000, "car " * 600, "   ", "",
    "<img src=x onerror=alert(1)>", "1=1; DROP TABLE files; --",
]


def _search(client, q, **params):
    response = client.get("/api/search", query_string={"q": q, **params})
    assert response.status_code == 200, (q[:50], response.get_json())
    return response.get_json()


def _names(body):
    return [item["file"]["name"] for item in body["items"]]


def _marked(hit):
    return "".join(f"[{s['text']}]" if s["match"] else s["text"] for s in hit["snippet"])


@pytest.fixture
def imported(client, sample_media):
    import_folder(client, sample_media, generate_proxies=False)
    return sample_media


@pytest.fixture
def analysed(client, imported):
    """The bottle video analysed on demand (combined), so its summary and chapters are indexed."""
    items = client.get("/api/files", query_string={"q": "bottle-detection"}).get_json()["items"]
    response = client.post("/api/nova/analyze", json={"file_ids": [items[0]["id"]], "analysis_types": ["combined"]})
    assert response.status_code == 202, response.get_json()
    assert wait_for_task(client, response.get_json()["task_id"], timeout=300)["status"] == "SUCCEEDED"
    return items[0]


def test_imported_files_are_found_by_name_prefix_with_a_highlight(client, imported):
    body = _search(client, "bott")
    assert _names(body) == ["bottle-detection.mp4"]
    hit = body["items"][0]["hits"][0]
    assert hit["field"] == "name" and hit["field_label"] == "File name"
    assert _marked(hit) == "[bottle]-detection.mp4"
    assert body["items"][0]["file"]["url"] == f"/files/{body['items'][0]['file']['id']}"


def test_every_word_must_match_somewhere_in_the_file(client, imported):
    assert _names(_search(client, "person detection")) == ["one-by-one-person-detection.mp4"]
    assert _search(client, "person bottle")["total"] == 0


def test_folder_words_are_searchable(client, imported):
    body = _search(client, "samples")
    assert body["total"] == 7
    assert all(any(h["field"] == "folder" for h in item["hits"]) for item in body["items"])


def test_media_type_filter_and_paging(client, imported):
    assert set(_names(_search(client, "samples", media_type="video"))) == {
        "car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4"}
    first = _search(client, "samples", per_page=3, page=1)
    second = _search(client, "samples", per_page=3, page=3)
    assert first["total"] == 7 and first["pages"] == 3
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert not set(_names(first)) & set(_names(second))


def test_bad_paging_or_type_is_a_400_not_a_500(client):
    for params in ({"media_type": "audio"}, {"page": "x"}, {"page": "0"}, {"per_page": "1000"}):
        response = client.get("/api/search", query_string={"q": "a", **params})
        assert response.status_code == 400, params
        assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_hostile_queries_never_fail(client, imported):
    for query in HOSTILE_QUERIES:
        body = _search(client, query)
        assert isinstance(body["items"], list)
    assert _search(client, "\x01car\x02")["total"] == 1
    assert _search(client, '("car"*')["total"] == 1  # read as the word "car": no FTS syntax reaches SQLite


def test_query_terms_are_plain_words():
    assert search_service.query_terms('a" OR name:b*) NEAR(') == ["a", "or", "name", "b", "near"]
    assert search_service.query_terms("snake_case Café") == ["snake", "case", "café"]
    assert len(search_service.query_terms("w " * 100)) == 1
    assert len(search_service.query_terms(" ".join(f"w{i}" for i in range(100)))) == search_service.MAX_TERMS


def test_accents_are_ignored(client, library_root):
    folder = library_root / "accents"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "Café crème.jpg")
    import_folder(client, folder, generate_proxies=False)
    assert _names(_search(client, "cafe creme")) == ["Café crème.jpg"]
    assert _names(_search(client, "CAFÉ")) == ["Café crème.jpg"]


def test_a_hostile_file_name_comes_back_as_plain_text(client, library_root):
    folder = library_root / "hostile"
    folder.mkdir()
    name = "<img src=x onerror=alert(1)>.jpg"
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / name)
    import_folder(client, folder, generate_proxies=False)
    body = _search(client, "onerror")
    assert _names(body) == [name]
    assert "".join(s["text"] for s in body["items"][0]["hits"][0]["snippet"]) == name


def test_summaries_and_chapters_are_found_with_the_chapter_time(client, analysed):
    body = _search(client, "brightness")
    assert _names(body) == ["bottle-detection.mp4"]
    assert body["total"] == 1  # many matching rows, one file
    item = next(i for i in body["items"] if i["file"]["name"] == "bottle-detection.mp4")
    fields = {h["field"] for h in item["hits"]}
    assert "chapter" in fields and "summary" in fields
    chapter = next(h for h in item["hits"] if h["field"] == "chapter")
    assert chapter["start_seconds"] is not None
    assert chapter["url"].startswith(f"/files/{analysed['id']}?t=")
    assert any(s["match"] and s["text"].lower() == "brightness" for s in chapter["snippet"])
    # Words from different fields of the same file: name + summary.
    assert _names(_search(client, "bottle brightness")) == ["bottle-detection.mp4"]


def test_a_name_match_ranks_above_a_passing_mention(client, analysed):
    # "bottle" is the name of one file and only a path word elsewhere in its own analysis.
    body = _search(client, "bottle")
    assert _names(body)[0] == "bottle-detection.mp4"
    assert body["items"][0]["hits"][0]["field"] == "name"


def test_deleting_a_file_removes_it_from_search(client, app, analysed):
    assert client.delete(f"/api/files/{analysed['id']}").status_code == 200
    assert _search(client, "bottle")["total"] == 0
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        low = analysed["id"] * 4096
        left = conn.execute("SELECT COUNT(*) FROM search_index WHERE rowid BETWEEN ? AND ?",
                            (low, low + 4095)).fetchone()[0]
    finally:
        conn.close()
    assert left == 0


def test_a_moved_file_is_found_under_its_new_name(client, app, imported):
    file_id = client.get("/api/files", query_string={"q": "kiwi"}).get_json()["items"][0]["id"]
    assert _search(client, "kiwi")["total"] == 1
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        with transaction(conn):
            files_db.update_file(conn, file_id, {"name": "mango.jpg", "path": str(imported / "mango.jpg")})
    finally:
        conn.close()
    assert _search(client, "kiwi")["total"] == 0
    assert _names(_search(client, "mango")) == ["mango.jpg"]


def test_reindex_all_rebuilds_the_same_rows(client, app, analysed):
    before = _search(client, "brightness")
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        assert search_service.reindex_all(conn) == 7
        assert conn.execute("SELECT COUNT(*) FROM search_dirty").fetchone()[0] == 0
    finally:
        conn.close()
    assert _search(client, "brightness") == before


def test_document_rows_cover_every_result_type():
    results = {
        "summary": {"text": "A pump install", "key_points": ["hose"]},
        "chapters": {"chapters": [{"title": "Intro", "start_seconds": 0.0, "end_seconds": 5.0, "summary": "hello"},
                                  {"title": "Pump", "start_seconds": 5.0, "end_seconds": 9.0, "summary": "x"}]},
        "elements": {"equipment": [{"name": "Trowel", "category": "tool", "time_ranges": [{"start_seconds": 3.0, "end_seconds": 4.0}]}],
                     "topics": [{"name": "Grouting", "description": "filling gaps", "time_ranges": []}],
                     "people": {"max_count": 1, "descriptions": ["installer"]},
                     "speakers": [{"label": "Narrator", "role": "host", "time_ranges": []}]},
        "waterfall_classification": {"family": "Genesis Formal", "tier_level": "Unknown", "functional_type": "Grotto",
                                     "sub_type": "Unknown", "evidence": ["stacked stone"], "search_tags": ["grotto"],
                                     "product_keywords": ["genesis"]},
        "search_metadata": {"keywords": ["backyard"], "project": {"name": "Smith pool"},
                            "location": {"city": "Austin"}, "entities": [{"type": "org", "value": "Acme"}], "camera": "GoPro"},
    }
    rows = search_service.document_rows("clip\x01.mp4", "/media/x", results)
    by_field = {}
    for field, start, text in rows:
        by_field.setdefault(field, []).append((start, text))
    assert by_field["name"] == [(None, "clip .mp4")]  # highlight markers never enter the index
    assert by_field["chapter"][1] == (5.0, "Pump · x")
    assert (3.0, "Trowel · tool") in by_field["element"]
    assert any("Genesis Formal" in t and "Unknown" not in t for _, t in by_field["classification"])
    assert any("Smith pool" in t and "Austin" in t and "Acme" in t and "GoPro" in t for _, t in by_field["metadata"])
    assert {t for _, t in by_field["keyword"]} == {"backyard", "grotto · genesis"}


def test_a_search_indexes_a_bounded_number_of_files_and_says_how_many_wait(client, imported, monkeypatch):
    monkeypatch.setattr(search_service, "INDEX_PER_SEARCH", 3)
    # The import queued 7 files; none is indexed until a search runs.
    first = _search(client, "samples")
    assert first["total"] == 3 and first["indexing_pending"] == 4
    assert _search(client, "samples")["indexing_pending"] == 1
    done = _search(client, "samples")
    assert done["total"] == 7 and "indexing_pending" not in done
