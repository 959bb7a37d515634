"""Set-based roll-ups (finalize_runs, refresh_files_state) against the one-run-at-a-time code they replace."""
from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from app.db import analysis as analysis_db
from app.db import connect, transaction
from app.db.migrator import migrate

TYPES = ["summary", "chapters", "elements", "waterfall_classification", "search_metadata"]
STAMP = "2026-01-01T00:00:00+00:00"


def reference_finalize_run(conn: sqlite3.Connection, run_id: int) -> str:
    """finalize_run as it was written before the set-based version (kept here as the specification)."""
    rows = conn.execute(
        "SELECT status, tokens_input, tokens_output, cost_usd, truncated, error_code, error_message"
        " FROM analysis_results WHERE run_id = ?", (run_id,)).fetchall()
    run = conn.execute("SELECT * FROM analysis_runs WHERE id = ?", (run_id,)).fetchone()
    if any(r["status"] == "PENDING" for r in rows):
        return run["status"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    status = "FAILED" if failed or not rows else "COMPLETED"
    first_error = failed[0] if failed else None
    message = "; ".join(dict.fromkeys(r["error_message"] or r["error_code"] or "failed" for r in failed))[:2000]
    conn.execute(
        "UPDATE analysis_runs SET status = ?, tokens_input = ?, tokens_output = ?, cost_usd = ?, truncated = ?,"
        " error_code = ?, error_message = ?, completed_at = COALESCE(completed_at, ?),"
        " processing_seconds = COALESCE(?, processing_seconds) WHERE id = ?",
        (status, sum(r["tokens_input"] for r in rows), sum(r["tokens_output"] for r in rows),
         round(sum(r["cost_usd"] for r in rows), 6), int(any(r["truncated"] for r in rows)),
         first_error["error_code"] if first_error else None, message if failed else None, STAMP, None, run_id))
    reference_refresh_file_state(conn, run["file_id"])
    return status


def reference_refresh_file_state(conn: sqlite3.Connection, file_id: int) -> None:
    latest = conn.execute("SELECT id, status FROM analysis_runs WHERE file_id = ? ORDER BY id DESC LIMIT 1",
                          (file_id,)).fetchone()
    if latest is None:
        conn.execute("UPDATE files SET analysis_status = 'none', latest_run_id = NULL WHERE id = ?", (file_id,))
        return
    completed = conn.execute("SELECT id FROM analysis_runs WHERE file_id = ? AND status = 'COMPLETED'"
                             " ORDER BY id DESC LIMIT 1", (file_id,)).fetchone()
    if latest["status"] in ("PENDING", "RUNNING", "SUBMITTED"):
        state = "pending"
    elif latest["status"] == "COMPLETED" or completed is not None:
        state = "completed"
    else:
        state = "failed"
    conn.execute("UPDATE files SET analysis_status = ?, latest_run_id = ? WHERE id = ?", (state, latest["id"], file_id))


def seeded_db(path: Path, seed: int) -> list[int]:
    """Files with several runs each, results in every state, odd costs (including halfway cases)."""
    rng = random.Random(seed)
    conn = connect(path)
    migrate(conn)
    run_ids = []
    with transaction(conn):
        for f in range(40):
            conn.execute("INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type,"
                         " duration_seconds, status, imported_at, updated_at)"
                         " VALUES (?, '/l', ?, 1, 0, ?, 'video', 60, 'ready', ?, ?)",
                         (f"/l/{f}.mp4", f"{f}.mp4", f"fp{f}", STAMP, STAMP))
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                types = ["combined"] if rng.random() < 0.6 else rng.sample(TYPES, rng.randint(1, 3))
                run_id = analysis_db.insert_run(
                    conn, file_id=f + 1, mode="batch", model_key="lite", model_id="m", analysis_types=types,
                    options={}, prompt_version="v", status=rng.choice(["SUBMITTED", "PENDING", "COMPLETED", "FAILED"]))
                run_ids.append(run_id)
                if rng.random() < 0.05:
                    conn.execute("DELETE FROM analysis_results WHERE run_id = ?", (run_id,))  # a run without results
                for (analysis_type,) in conn.execute("SELECT analysis_type FROM analysis_results WHERE run_id = ?",
                                                     (run_id,)).fetchall():
                    status = rng.choice(["COMPLETED"] * 6 + ["FAILED"] * 2 + ["PENDING"])
                    cost = rng.choice([0.0, 0.0000125, 0.0012345, 0.00123450, 0.1 + 0.2, rng.random() / 100,
                                       round(rng.random() / 1000, 8), 1e-9, 2.5e-7, 0.0000005])
                    conn.execute(
                        "UPDATE analysis_results SET status = ?, tokens_input = ?, tokens_output = ?, cost_usd = ?,"
                        " truncated = ?, error_code = ?, error_message = ?, result = ? WHERE run_id = ? AND"
                        " analysis_type = ?",
                        (status, rng.randint(0, 90_000), rng.randint(0, 9_000), cost, rng.choice([0, 0, 1]),
                         rng.choice([None, "invalid_json", "throttled"]) if status == "FAILED" else None,
                         rng.choice([None, "", "bad answer", "bad answer", "cut off"]) if status == "FAILED" else None,
                         json.dumps({"x": 1}) if status == "COMPLETED" else None, run_id, analysis_type))
            if rng.random() < 0.3:
                conn.execute("UPDATE analysis_runs SET completed_at = ? WHERE file_id = ?", ("earlier", f + 1))
    conn.close()
    return run_ids


def table(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(sql)]


@pytest.mark.parametrize("seed", range(6))
def test_finalize_runs_matches_finalizing_one_run_at_a_time(tmp_path, seed):
    run_ids = seeded_db(tmp_path / "a.db", seed)
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    old, new = connect(tmp_path / "a.db"), connect(tmp_path / "b.db")
    picked = random.Random(seed).sample(run_ids, len(run_ids) * 2 // 3) + [10_000]  # and one that does not exist
    with transaction(old):
        expected = {run_id: reference_finalize_run(old, run_id) for run_id in picked[:-1]}
    with transaction(new):
        got = analysis_db.finalize_runs(new, picked)
    assert got == expected
    runs = "SELECT id, status, tokens_input, tokens_output, cost_usd, truncated, error_code, error_message," \
           " completed_at IS NULL, processing_seconds FROM analysis_runs ORDER BY id"
    assert table(new, runs) == table(old, runs)
    files = "SELECT id, analysis_status, latest_run_id FROM files ORDER BY id"
    assert table(new, files) == table(old, files)
    dirty = "SELECT file_id FROM search_dirty ORDER BY file_id"
    assert table(new, dirty) == table(old, dirty)  # the search trigger fired for the same runs


def test_finalize_run_still_rolls_up_one_run(tmp_path):
    run_ids = seeded_db(tmp_path / "a.db", 99)
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    old, new = connect(tmp_path / "a.db"), connect(tmp_path / "b.db")
    for run_id in run_ids:
        assert analysis_db.finalize_run(new, run_id) == reference_finalize_run(old, run_id)
    runs = "SELECT id, status, tokens_input, tokens_output, cost_usd, truncated, error_code, error_message" \
           " FROM analysis_runs ORDER BY id"
    assert table(new, runs) == table(old, runs)


def test_refresh_files_state_matches_refreshing_one_file_at_a_time(tmp_path):
    seeded_db(tmp_path / "a.db", 7)
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    old, new = connect(tmp_path / "a.db"), connect(tmp_path / "b.db")
    for conn in (old, new):  # scramble the stored state first
        conn.execute("UPDATE files SET analysis_status = 'pending', latest_run_id = 12345")
    for file_id in range(1, 42):
        reference_refresh_file_state(old, file_id)
    analysis_db.refresh_files_state(new, range(1, 42))
    files = "SELECT id, analysis_status, latest_run_id FROM files ORDER BY id"
    assert table(new, files) == table(old, files)
