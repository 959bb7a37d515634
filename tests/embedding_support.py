"""A library embedded with the local backend, built once per module: the sample media, a retouched copy of
Wall.jpg (its near-duplicate), every file analysed on demand by the local analyser, then embedded."""
from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image, ImageEnhance

from app import create_app
from app.db import connect
from app.services.embedding_jobs import process_embeddings_once
from conftest import SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS
from helpers import import_folder, wait_for_task

NEAR_DUPLICATE = "Wall-retouched.jpg"


def make_near_duplicate(folder: Path) -> Path:
    """Wall.jpg cropped by 8 %, a little brighter and smaller: the same picture to anyone looking."""
    with Image.open(SAMPLE_MEDIA / "Wall.jpg") as image:
        w, h = image.size
        edited = image.crop((int(w * 0.04), int(h * 0.04), int(w * 0.96), int(h * 0.96))).resize((800, 600))
        ImageEnhance.Brightness(edited).enhance(1.08).save(folder / NEAR_DUPLICATE, quality=80)
    return folder / NEAR_DUPLICATE


def build_library(root: Path, **config):
    """(app, client, {name: file id}) with everything analysed and embedded; the task runner is started."""
    library = root / "library" / "samples"
    library.mkdir(parents=True)
    for name in SAMPLE_VIDEOS + SAMPLE_IMAGES:
        shutil.copy2(SAMPLE_MEDIA / name, library / name)
    make_near_duplicate(library)
    data = root / "data"
    app = create_app({"DATA_DIR": str(data), "LIBRARY_ROOTS": (root / "library", data), "PROXY_WORKERS": 2,
                      "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning", **config})
    app.extensions["services"].tasks.start()
    client = app.test_client()
    job = import_folder(client, library)
    assert wait_for_task(client, job["result"]["proxies_task_id"])["status"] == "SUCCEEDED"
    ids = {f["name"]: f["id"] for f in client.get("/api/files").get_json()["items"]}
    analysed = client.post("/api/nova/analyze", json={"file_ids": list(ids.values()), "analysis_types": ["combined"]})
    assert analysed.status_code == 202, analysed.get_json()
    assert wait_for_task(client, analysed.get_json()["task_id"], timeout=600)["status"] == "SUCCEEDED"
    started = client.post("/api/embeddings/backfill", json={"confirm": True})
    assert started.status_code == 202, started.get_json()
    assert wait_for_task(client, started.get_json()["task_id"])["status"] == "SUCCEEDED"
    drive_jobs(app)
    return app, client, ids


def drive_jobs(app, rounds: int = 3) -> None:
    """What the poller does for video embeddings: submit, check, ingest."""
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        for _ in range(rounds):
            assert process_embeddings_once(conn, app.extensions["services"], force=True)["errors"] == []
    finally:
        conn.close()
