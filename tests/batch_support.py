"""Shared pieces of the batch pipeline tests: a library imported once per session, the fixtures that start a
test from a copy of it (`data_dir`, and `conn` on the app's database), and drivers.

A module takes them by importing them: `from batch_support import conn, data_dir, seeded_template`."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.db import batches as batches_db
from app.db import connect
from app.services.batch.process import process_batches_once
from conftest import SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS
from helpers import import_folder, wait_for_task, wait_for_task_row


@dataclass(frozen=True)
class Template:
    """A data dir whose database holds the sample media with proxies made, and their library folder."""

    data: Path
    library: Path


_TEMPLATES: dict[str, Template] = {}


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Template:
    """Import the sample media and make proxies once; each test copies the data dir (seconds saved)."""
    # Every module that imports this fixture gets its own definition of it: share the result here.
    session_root = str(tmp_path_factory.getbasetemp())
    if session_root not in _TEMPLATES:
        _TEMPLATES[session_root] = _build_template(tmp_path_factory)
    return _TEMPLATES[session_root]


def _build_template(tmp_path_factory) -> Template:
    root = tmp_path_factory.mktemp("batch-template")
    library = root / "library" / "samples"
    library.mkdir(parents=True)
    for name in SAMPLE_VIDEOS + SAMPLE_IMAGES:
        shutil.copy2(SAMPLE_MEDIA / name, library / name)
    data = root / "data"
    data.mkdir()
    app = create_app({"DATA_DIR": str(data), "LIBRARY_ROOTS": (root / "library", data), "PROXY_WORKERS": 2,
                      "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning"})
    app.extensions["services"].tasks.start()
    try:
        client = app.test_client()
        job = import_folder(client, library)
        assert job["status"] == "SUCCEEDED", job
        proxies = wait_for_task(client, job["result"]["proxies_task_id"])
        assert proxies["status"] == "SUCCEEDED", proxies
    finally:
        app.extensions["services"].tasks.stop(timeout=30)
    return Template(data=data, library=library)


def copy_template(template: Template, target: Path) -> Path:
    shutil.copytree(template.data, target, ignore=shutil.ignore_patterns("objects", "tmp"))
    return target


@pytest.fixture
def data_dir(tmp_path, seeded_template):
    return copy_template(seeded_template, tmp_path / "data")


@pytest.fixture
def conn(app):
    connection = db(app)
    yield connection
    connection.close()


def wait_tasks(app, batch: dict[str, Any]) -> None:
    """Wait for the submission's staging and on-demand tasks."""
    for task_id in (batch.get("stage_task_id"), batch["on_demand"]["task_id"]):
        if task_id:
            row = wait_for_task_row(app, task_id)
            assert row["status"] == "SUCCEEDED", dict(row)


def settle(app, conn, batch_id: int, *, rounds: int = 6) -> dict[str, Any]:
    """Drive submit -> engine -> refresh -> ingest until the submission is terminal (local engine)."""
    services = app.extensions["services"]
    outcome: dict[str, Any] = {}
    for _ in range(rounds):
        outcome = process_batches_once(conn, services, force=True)
        assert outcome["errors"] == [], outcome
        if batches_db.get_batch(conn, batch_id)["status"] in batches_db.BATCH_TERMINAL:
            return outcome
        services.backend.run_once()
    raise AssertionError(f"batch {batch_id} not finished: {outcome}")


def db(app):
    return connect(app.config["SETTINGS"].DATABASE_PATH)


def results_by_file(conn, batch_id: int) -> dict[str, list[tuple]]:
    """{file name: [(type, status, error code)]} for the submission's runs."""
    out: dict[str, list[tuple]] = {}
    for row in conn.execute(
        "SELECT f.name, res.analysis_type, res.status, res.error_code FROM analysis_results res"
        " JOIN analysis_runs r ON r.id = res.run_id JOIN files f ON f.id = r.file_id WHERE r.batch_id = ?"
        " ORDER BY f.name, res.analysis_type", (batch_id,)):
        out.setdefault(row[0], []).append((row[1], row[2], row[3]))
    return out
