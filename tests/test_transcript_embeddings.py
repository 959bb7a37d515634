"""What is said in a video is searchable by meaning: a new transcript queues its file for embedding, its lines
become text vectors with their time ranges, and a semantic search for a spoken phrase lands on that moment."""
from __future__ import annotations

import pytest

from app import create_app
from helpers import wait_for_task
from transcript_support import import_library, library_with, speech_media  # noqa: F401


@pytest.fixture
def app(app_config):
    application = create_app({**app_config, "EMBEDDINGS_ENABLED": True})
    application.extensions["services"].tasks.start()
    yield application
    application.extensions["services"].tasks.stop(timeout=30)


def embed_tasks(client) -> list[dict]:
    return [task for task in client.get("/api/tasks").get_json()["items"] if task["kind"] == "embed"]


def test_a_sidecar_transcript_is_embedded_and_found_by_a_spoken_phrase(app, client, library_root, speech_media):
    ids = import_library(client, library_with(library_root, speech_media, sidecar=True))
    tasks = embed_tasks(client)
    assert tasks, "a new transcript should start the embed task at once"
    for task in tasks:
        assert wait_for_task(client, task["id"])["status"] == "SUCCEEDED"

    body = client.get("/api/search", query_string={"q": "the torque wrench calibration is overdue",
                                                   "mode": "semantic"}).get_json()
    assert body["mode"] == "semantic"
    assert [item["file"]["name"] for item in body["items"]][:1] == ["walkthrough.mp4"]
    moment = body["items"][0]["moments"][0]
    assert moment["kind"] == "transcript"
    first, last = speech_media.spoken.cues[0], speech_media.spoken.cues[-1]
    # The three sentences fit in one window: the moment spans them, and links to where the talk starts.
    assert moment["start_seconds"] == pytest.approx(first[0]) and moment["end_seconds"] == pytest.approx(last[1])
    assert moment["url"] == f"/files/{ids['walkthrough.mp4']}?t={first[0]:g}"


def test_without_a_transcript_nothing_is_queued_for_the_video(app, client, library_root, speech_media):
    import_library(client, library_with(library_root, speech_media))
    assert embed_tasks(client) == []
    status = client.get("/api/embeddings").get_json()
    assert status["files"] == 0 and status["pending_files"] == 0
