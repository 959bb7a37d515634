"""Shared pieces of the transcript tests: speech media made once per session, a library holding them, and a
driver for the transcription pass (what the server's poller and the offline stand-in's thread do)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.db import connect
from app.services.transcripts.process import process_transcripts_once
from app.utils.background import BackgroundWorker
from helpers import import_folder, wait_for_task
from speech_support import SpeechVideo, make_speech_video, make_subtitled_mkv


@dataclass(frozen=True)
class SpeechMedia:
    folder: Path
    spoken: SpeechVideo  # walkthrough.mp4 (no sidecar in `folder`: tests add it when they want one)
    srt: Path  # its truthful sidecar, kept aside
    mkv: Path  # briefing.mkv: the same cues as a subtitle stream


@pytest.fixture(scope="session")
def speech_media(tmp_path_factory) -> SpeechMedia:
    folder = tmp_path_factory.mktemp("speech")
    spoken = make_speech_video(folder / "made", sidecar=True)
    srt = spoken.path.with_suffix(".srt")
    mkv = make_subtitled_mkv(folder / "made", spoken.cues)
    return SpeechMedia(folder=folder / "made", spoken=spoken, srt=srt, mkv=mkv)


def library_with(library_root: Path, speech: SpeechMedia, *, sidecar: bool = False, mkv: bool = False,
                 name: str = "talks") -> Path:
    """A library folder with walkthrough.mp4 (and its .srt, and briefing.mkv, when asked)."""
    folder = library_root / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(speech.spoken.path, folder / "walkthrough.mp4")
    if sidecar:
        shutil.copy2(speech.srt, folder / "walkthrough.srt")
    if mkv:
        shutil.copy2(speech.mkv, folder / "briefing.mkv")
    return folder


def import_library(client, folder: Path) -> dict[str, int]:
    """Import without proxies, wait for the subtitles pickup; {file name: id}."""
    job = import_folder(client, folder, generate_proxies=False)
    assert job["status"] == "SUCCEEDED", job
    subtitles = wait_for_task(client, job["result"]["subtitles_task_id"])
    assert subtitles["status"] == "SUCCEEDED", subtitles
    items = client.get("/api/files", query_string={"per_page": 500}).get_json()["items"]
    return {item["name"]: item["id"] for item in items}


def request_transcripts(client, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    response = client.post("/api/transcripts", json=body)
    assert response.status_code == status, response.get_json()
    result = response.get_json()
    if status == 202:
        task = wait_for_task(client, result["task_id"])
        assert task["status"] == "SUCCEEDED", task
        result["task"] = task
    return result


def drive(app, *, rounds: int = 4) -> list[dict[str, Any]]:
    """Run the transcription pass (forced) and the offline stand-in in turn; every pass's outcome."""
    services = app.extensions["services"]
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    outcomes = []
    try:
        for _ in range(rounds):
            outcomes.append(process_transcripts_once(conn, services, force=True))
            if isinstance(services.transcriber, BackgroundWorker):
                services.transcriber.run_once()
    finally:
        conn.close()
    return outcomes


def transcript_of(client, file_id: int) -> dict[str, Any]:
    response = client.get(f"/api/files/{file_id}/transcript")
    assert response.status_code == 200, response.get_json()
    return response.get_json()
