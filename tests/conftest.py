"""Shared fixtures: a throwaway app per test, its client and CLI runner, and the sample media."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app import create_app

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_MEDIA = Path(os.environ.get("MEDIA_DIR") or REPO_ROOT / "tests" / "media")
SAMPLE_VIDEOS = ("car-detection.mp4", "bottle-detection.mp4", "one-by-one-person-detection.mp4")
SAMPLE_IMAGES = ("Bubbles.jpg", "Wall.jpg", "faust_github.jpg", "kiwi.jpg")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def library_root(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path


@pytest.fixture
def app_config(data_dir: Path, library_root: Path) -> dict:
    return {
        "DATA_DIR": str(data_dir),
        "LIBRARY_ROOTS": (library_root, data_dir),
        "PROXY_WORKERS": 2,
        "BATCH_POLLER_ENABLED": False,
    }


@pytest.fixture
def app(app_config: dict):
    """The app with its task runner started, as the server runs it (the poller and engine stay off)."""
    application = create_app(app_config)
    application.extensions["services"].tasks.start()
    yield application
    application.extensions["services"].tasks.stop(timeout=30)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sample_media(library_root: Path) -> Path:
    """A copy of the sample media inside the library root (the originals are never written)."""
    if not SAMPLE_MEDIA.is_dir():
        pytest.fail(f"sample media not found at {SAMPLE_MEDIA}; set MEDIA_DIR")
    target = library_root / "samples"
    target.mkdir()
    for name in SAMPLE_VIDEOS + SAMPLE_IMAGES:
        shutil.copy2(SAMPLE_MEDIA / name, target / name)
    return target
