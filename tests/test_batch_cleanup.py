"""Staging cleanup: only fully ingested chunks, dry run counts what a real run deletes, CLI and API."""
from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from app.db import connect
from app.utils.clock import iso, utcnow


def _seed(app, *, status: str, index: int, fetched: bool = True, finished_days_ago: float = 0) -> dict:
    """A chunk row plus its staging and output objects in the app's object store."""
    store = app.extensions["services"].store
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    stamp = iso()
    finished = (utcnow() - timedelta(days=finished_days_ago)).isoformat()
    batch_id = conn.execute(
        "INSERT INTO batches (model_key, model_id, mode, analysis_types, created_at, updated_at)"
        " VALUES ('local-analyzer', 'local-analyzer', 'batch', '[\"combined\"]', ?, ?)", (stamp, stamp)).lastrowid
    folder = f"nova_batch/job_20261125_120000_{index:03d}"
    output = f"nova_batch_output/job_20261125_120000_{index:03d}"
    chunk_id = conn.execute(
        "INSERT INTO chunks (batch_id, chunk_index, total_chunks, status, model_id, job_name,"
        " client_token, job_arn, staging_folder, manifest_key, output_prefix, created_at, updated_at,"
        " completed_at, results_fetched_at) VALUES (?, 0, 1, ?, 'm', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, status, f"job{index}", f"token{index}", f"arn{index}", folder + "/", folder + "/manifest.jsonl",
         output + "/", stamp, stamp, finished, finished if fetched else None)).lastrowid
    store.put_bytes(f"{folder}/manifest.jsonl", b'{"recordId": "a"}\n' * 10)
    store.put_bytes(f"{folder}/files/clip_1.mp4", b"\x00" * 1000)
    store.put_bytes(f"{output}/abcdefabcdef/manifest.jsonl.out", b"{}\n" * 5)
    conn.close()
    return {"chunk_id": chunk_id, "folder": folder, "output": output}


def _keys(app) -> list[str]:
    return [info.key for info in app.extensions["services"].store.list("")]


def test_dry_run_reports_exactly_what_a_real_run_deletes(app, client):
    done = _seed(app, status="COMPLETED", index=1)
    running = _seed(app, status="IN_PROGRESS", index=2, fetched=False)
    failed = _seed(app, status="FAILED", index=3, fetched=False)
    app.extensions["services"].store.put_bytes("media/1/proxy.mp4", b"keep me")

    storage = client.get("/reports/api/storage/batch").get_json()
    assert storage["batch_folders"]["count"] == 3
    assert storage["input_files"]["count"] == 6 and storage["output_files"]["count"] == 3
    assert storage["cleanable_jobs"] == 1
    assert storage["total_bytes"] == storage["input_files"]["bytes"] + storage["output_files"]["bytes"]

    preview = client.post("/reports/api/storage/batch/cleanup", json={}).get_json()
    assert preview["dry_run"] is True and preview["jobs_cleaned"] == 1 and preview["objects_deleted"] == 3
    assert len(_keys(app)) == 10  # nothing deleted by the dry run
    not_really = client.post("/reports/api/storage/batch/cleanup", json={"dry_run": "false"}).get_json()
    assert not_really["dry_run"] is True

    real = client.post("/reports/api/storage/batch/cleanup", json={"dry_run": False}).get_json()
    assert {k: real[k] for k in ("jobs_cleaned", "objects_deleted", "bytes_freed")} == \
        {k: preview[k] for k in ("jobs_cleaned", "objects_deleted", "bytes_freed")}
    keys = _keys(app)
    assert not any(k.startswith(done["folder"]) or k.startswith(done["output"]) for k in keys)
    assert any(k.startswith(running["folder"]) for k in keys), "a running chunk's staging must stay"
    assert any(k.startswith(failed["folder"]) for k in keys), "failed staging stays unless asked"
    assert "media/1/proxy.mp4" in keys
    again = client.post("/reports/api/storage/batch/cleanup", json={"dry_run": False}).get_json()
    assert again["jobs_cleaned"] == 0

    with_failed = client.post("/reports/api/storage/batch/cleanup",
                              json={"dry_run": False, "include_failed": True}).get_json()
    assert with_failed["jobs_cleaned"] == 1
    assert not any(k.startswith(failed["folder"]) for k in _keys(app))


def test_older_than_days_keeps_recent_jobs(app, client):
    _seed(app, status="COMPLETED", index=1, finished_days_ago=10)
    _seed(app, status="COMPLETED", index=2, finished_days_ago=1)
    report = client.post("/reports/api/storage/batch/cleanup", json={"dry_run": False, "older_than_days": 7}).get_json()
    assert report["jobs_cleaned"] == 1


@pytest.mark.parametrize("body", [{"older_than_days": -1}, {"older_than_days": "7"}, {"include_failed": "yes"}])
def test_bad_cleanup_parameters_are_400(client, body):
    assert client.post("/reports/api/storage/batch/cleanup", json=body).status_code == 400


def test_cleanup_script_dry_run_then_delete(app, monkeypatch, capsys, app_config):
    from scripts import cleanup_batch_folders

    _seed(app, status="COMPLETED", index=1)
    for name, value in app_config.items():
        if name != "LIBRARY_ROOTS":
            monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert cleanup_batch_folders.main([]) == 0
    out = capsys.readouterr().out
    assert "1 job(s) to clean: 3 object(s)" in out and "Dry run" in out
    assert len(_keys(app)) == 3
    assert cleanup_batch_folders.main(["--no-dry-run"]) == 1  # no confirmation on a non-terminal stdin
    assert cleanup_batch_folders.main(["--no-dry-run", "--yes"]) == 0
    assert "Deleted 3 object(s) from 1 job(s)" in capsys.readouterr().out
    assert _keys(app) == []
