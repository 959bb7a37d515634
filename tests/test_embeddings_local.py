"""The offline embedder and the automatic path: what it measures, its async life in the object store, analyses
embedded as they complete (on demand and by the poller's pass for batch results), and the CLI backfill."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app import create_app
from app.db import connect
from app.inference.embeddings import _local_features as features
from app.inference.embeddings.local import LocalEmbeddings
from app.services.embedding_jobs import process_embeddings_once
from app.storage.local import LocalObjectStore
from batch_support import copy_template, seeded_template  # noqa: F401 (fixture)
from helpers import wait_for_task

DIM = 256


@pytest.fixture
def local(tmp_path):
    return LocalEmbeddings(LocalObjectStore(tmp_path / "objects", "media-library"), dimension=DIM)


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def jpeg(colour, size=(64, 48)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def test_text_vectors_are_deterministic_unit_length_and_closer_when_words_are_shared(local):
    pump = local.embed_text("The pump house at night, lit by one lamp", purpose="GENERIC_INDEX")
    assert pump == local.embed_text("The pump house at night, lit by one lamp", purpose="GENERIC_RETRIEVAL")
    assert len(pump) == DIM and np.linalg.norm(pump) == pytest.approx(1.0, abs=1e-5)
    near = local.embed_text("pump houses at night", purpose="GENERIC_RETRIEVAL")
    far = local.embed_text("a kiwi cut in half on a table", purpose="GENERIC_RETRIEVAL")
    assert cosine(pump, near) > 0.5 > cosine(pump, far)
    assert features.words("PumpHouse_night-02.MP4") == ["pump", "house", "night", "02"]


def test_pictures_are_compared_by_colour_and_layout_and_named_by_colour(local):
    green, greenish, blue = jpeg((30, 160, 40)), jpeg((40, 150, 50)), jpeg((20, 40, 200))
    g, g2, b = (local.embed_image(x, "jpeg", purpose="GENERIC_INDEX") for x in (green, greenish, blue))
    assert cosine(g, g2) > 0.95 > cosine(g, b)
    assert cosine(local.embed_text("green", purpose="GENERIC_RETRIEVAL"), g) > 0.2
    assert cosine(local.embed_text("green", purpose="GENERIC_RETRIEVAL"), b) < 0.05


def test_async_video_is_idempotent_by_token_and_fails_with_a_reason(local, tmp_path):
    store = local.store
    start = dict(video_uri=store.uri("in/missing.mp4"), video_format="mp4", output_uri=store.uri("out") + "/",
                 client_token="tok-1", segment_seconds=10, mode="AUDIO_VIDEO_COMBINED")
    arn = local.start_video(**start)
    assert local.start_video(**start) == arn  # the same token is the same invocation
    assert local.start_video(**{**start, "client_token": "tok-2"}) != arn
    info = local.get_invocation(arn)
    assert info.status == "Failed" and "cannot be read" in info.failure_message
    assert local.find_invocation("tok-2").status == "Failed"
    assert {i.client_token for i in local.list_invocations(status="Failed")} == {"tok-1", "tok-2"}


@pytest.fixture
def enabled_app(seeded_template, tmp_path):  # noqa: F811
    data = copy_template(seeded_template, tmp_path / "data")
    app = create_app({"DATA_DIR": str(data), "LIBRARY_ROOTS": (seeded_template.library.parent, data),
                      "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning", "EMBEDDINGS_ENABLED": True,
                      "EMBEDDING_DIMENSION": DIM})
    app.extensions["services"].tasks.start()
    yield app
    app.extensions["services"].tasks.stop(timeout=30)


def test_an_on_demand_analysis_is_embedded_as_soon_as_it_completes(enabled_app):
    client = enabled_app.test_client()
    kiwi = client.get("/api/files", query_string={"q": "kiwi"}).get_json()["items"][0]
    started = client.post("/api/nova/analyze", json={"file_ids": [kiwi["id"]], "analysis_types": ["combined"]})
    task = wait_for_task(client, started.get_json()["task_id"], timeout=300)
    assert task["status"] == "SUCCEEDED" and task["result"].get("embed_task_id")
    assert wait_for_task(client, task["result"]["embed_task_id"])["status"] == "SUCCEEDED"
    conn = connect(enabled_app.config["SETTINGS"].DATABASE_PATH)
    kinds = {row[0] for row in conn.execute("SELECT kind FROM embeddings WHERE file_id = ?", (kiwi["id"],))}
    assert kinds == {"image", "summary"}
    body = client.get("/api/search", query_string={"q": "kiwi", "mode": "semantic"}).get_json()
    assert body["items"][0]["file"]["name"] == "kiwi.jpg"


def test_a_completed_batch_run_is_queued_by_trigger_and_picked_up_by_the_poller_pass(enabled_app):
    conn = connect(enabled_app.config["SETTINGS"].DATABASE_PATH)
    file_id = conn.execute("SELECT id FROM files WHERE name = 'Wall.jpg'").fetchone()[0]
    conn.execute("INSERT INTO analysis_runs (id, file_id, mode, status, model_key, model_id, analysis_types,"
                 " prompt_version, created_at) VALUES (900, ?, 'batch', 'SUBMITTED', 'lite', 'm', '[]', 'v', 'now')",
                 (file_id,))
    assert conn.execute("SELECT COUNT(*) FROM embedding_pending").fetchone()[0] == 0
    conn.execute("UPDATE analysis_runs SET status = 'COMPLETED' WHERE id = 900")  # as batch ingest does
    assert [r[0] for r in conn.execute("SELECT file_id FROM embedding_pending")] == [file_id]
    outcome = process_embeddings_once(conn, enabled_app.extensions["services"])
    assert outcome["started_task"]
    client = enabled_app.test_client()
    assert wait_for_task(client, outcome["started_task"])["status"] == "SUCCEEDED"
    assert conn.execute("SELECT kind FROM embeddings WHERE file_id = ?", (file_id,)).fetchone()[0] == "image"
    assert process_embeddings_once(conn, enabled_app.extensions["services"])["started_task"] is None


def test_the_cli_backfill_shows_its_estimate_then_embeds_videos_too(seeded_template, tmp_path):  # noqa: F811
    data = copy_template(seeded_template, tmp_path / "data")
    app = create_app({"DATA_DIR": str(data), "LIBRARY_ROOTS": (seeded_template.library.parent, data),
                      "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning", "EMBEDDING_DIMENSION": DIM})
    result = app.test_cli_runner().invoke(args=["embeddings", "backfill", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Backend: local (local-embeddings-v1, 256 dimensions)" in result.output
    assert "Files: 7 (4 images, 3 videos" in result.output
    status = app.test_cli_runner().invoke(args=["embeddings", "status"]).output
    assert '"files": 7' in status and '"COMPLETED": 3' in status
    again = app.test_cli_runner().invoke(args=["embeddings", "backfill", "--yes"])
    assert "Nothing to embed." in again.output
