"""Batch ingestion with worker processes stores exactly what ingestion in one process stores.

Big outputs are parsed and validated in forked worker processes (app/services/batch/ingest.py); these
tests force that path on a small output full of awkward lines and compare every stored row, run, file
state and counter with an in-process ingestion of the same output.
"""
from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest

from app.config import load_settings
from app.db import analysis as analysis_db
from app.db import batches as batches_db
from app.db import chunks as chunks_db
from app.db import connect, transaction
from app.db.migrator import migrate
from app.nova.catalog import load_catalog
from app.nova.prompts import PROMPT_VERSION
from app.services.context import Services
from app.services.signals import Signals
from app.services.tasks import TaskRunner
from app.services.batch import ingest, ingest_pool
from app.storage import LocalObjectStore

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")

STAMP = "2026-11-25T12:00:00.000000+00:00"
PREFIX = "nova_batch_output/job_test/"
JOB_ID = "job0001"
USAGE = {"inputTokens": 5_200, "outputTokens": 900}


def answer(i: int) -> dict:
    return {
        "summary": {"text": f"Clip {i} shows a waterfall.\n\nThe crew  stacks stones.", "key_points": ["a", "A", "b"]},
        "chapters": {"chapters": [{"title": f"Part {i}", "start_seconds": 0, "end_seconds": 30.5,
                                   "summary": "Digging", "key_points": ["x"]},
                                  {"title": "", "start_time": "00:30", "summary": "Stones"}]},
        "elements": {"equipment": [{"name": "pump", "confidence": "high", "time_ranges": ["0:05-0:10"]}],
                     "people": 2, "visual": {"dominant_colors": ["#ABC", "red"], "has_audio": "yes"}},
        "waterfall_classification": {"family": "custom natural stone", "tier_level": "Classic",
                                     "confidence": {"family": 0.9, "tier_level": 0.5}},
        "search_metadata": {"recording_date": "2024:05:01", "keywords": ["pool", "Pool", "null"]},
    }


def body(result: object, stop: str = "end_turn", text: str | None = None) -> dict:
    return {"output": {"message": {"role": "assistant",
                                   "content": [{"text": text if text is not None else json.dumps(result)}]}},
            "stopReason": stop, "usage": USAGE}


def line(record_id: str, **fields) -> bytes:
    return json.dumps({"recordId": record_id, "modelInput": {"messages": [{"text": "prompt \"recordId\""}]},
                       **fields}).encode() + b"\n"


def build(root: Path) -> tuple[Services, int]:
    """A FETCHING chunk of 40 runs (3 of them with two types) whose output holds every kind of line."""
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(root), "TESTING": True})
    store = LocalObjectStore(settings.objects_dir, settings.S3_BUCKET_NAME)
    services = Services(settings=settings, store=store, backend=None, catalog=load_catalog(),
                        tasks=TaskRunner(settings.DATABASE_PATH),
                        signals=Signals(settings.DATABASE_PATH))
    model = services.catalog.get("local-analyzer")
    conn = connect(settings.DATABASE_PATH)
    migrate(conn)
    ids: dict[str, str] = {}
    with transaction(conn):
        batch_id = batches_db.insert_batch(conn, model_key=model.key, model_id=model.model_id, mode="batch",
                                           analysis_types=["combined"], options={}, files_total=40,
                                           records_total=43, plan={}, estimated_cost_usd=0, created_at=STAMP)
        chunk_id = chunks_db.insert_chunk(
            conn, batch_id=batch_id, chunk_index=0, total_chunks=1, model_id=model.model_id, job_name="job",
            client_token="token", staging_folder="nova_batch/job_test/", manifest_key="nova_batch/job_test/m",
            output_prefix=PREFIX, files_count=40, bytes_total=0, records_total=43, estimated_cost_usd=0,
            created_at=STAMP, status="FETCHING")
        conn.execute("UPDATE chunks SET job_id = ?, provider_status = 'PartiallyCompleted' WHERE id = ?",
                     (JOB_ID, chunk_id))
        for i in range(40):
            conn.execute("INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type,"
                         " duration_seconds, status, imported_at, updated_at) VALUES (?, '/l', ?, 1, 0, ?, ?, ?,"
                         " 'ready', ?, ?)", (f"/l/{i}", f"{i}.mp4", f"fp{i}", "video", 60.0 if i % 7 else None,
                                              STAMP, STAMP))
            types = ["summary", "chapters"] if i in (5, 6, 7) else ["combined"]
            run_id = analysis_db.insert_run(conn, file_id=i + 1, mode="batch", model_key=model.key,
                                            model_id=model.model_id, analysis_types=types,
                                            options={"summary_depth": "brief"} if i % 3 == 0 else {},
                                            prompt_version=PROMPT_VERSION, status="SUBMITTED", batch_id=batch_id,
                                            chunk_id=chunk_id, with_record_ids=True)
            for analysis_type in types:
                ids[f"{i}:{analysis_type}"] = analysis_db.record_id_for(run_id, analysis_type)
        # A run of another chunk, whose record must count as unknown here.
        other = analysis_db.insert_run(conn, file_id=1, mode="batch", model_key=model.key, model_id=model.model_id,
                                       analysis_types=["combined"], options={}, prompt_version=PROMPT_VERSION,
                                       status="SUBMITTED", batch_id=batch_id, chunk_id=None, with_record_ids=True)
    conn.close()
    lines: list[bytes] = []
    for i in range(40):
        if i in (5, 6, 7):
            lines.append(line(ids[f"{i}:summary"], modelOutput=body(answer(i)["summary"])))
            if i != 7:  # file 7's chapters never come back: missing
                lines.append(line(ids[f"{i}:chapters"], modelOutput=body(answer(i)["chapters"],
                                                                          stop="max_tokens")))
            continue
        record = ids[f"{i}:combined"]
        if i == 10:
            lines.append(line(record, error={"errorCode": 400, "errorMessage": "ValidationException: too big"}))
        elif i == 11:
            lines.append(line(record))  # neither modelOutput nor error
        elif i == 12:
            lines.append(line(record, modelOutput=body(None, text="I cannot help with that.")))
        elif i == 13:
            lines.append(line(record, modelOutput=body(None, text='{"summary": {"text": "cut off here')))
        elif i == 14:
            lines.append(line(record, modelOutput=body(["not", "an", "object"])))
        elif i == 15:  # the recordId regex first finds the one inside modelInput: validated in the main process
            lines.append(json.dumps({"modelInput": {"recordId": ids["16:combined"]}, "recordId": record,
                                     "modelOutput": body(answer(i))}).encode() + b"\n")
        elif i == 17:  # cut off mid-line, and no complete line for it anywhere
            lines.append(line(record, modelOutput=body(answer(i)))[:120] + b"\n")
        elif i == 18:  # cut off, but a complete line comes later
            lines.append(line(record, modelOutput=body(answer(i)))[:90] + b"\n")
        elif i == 19:
            lines.append(b"   \n")
        elif i == 23:  # NaN tokens and a lone surrogate: JSON that orjson refuses and json reads
            text = json.dumps({**answer(i), "summary": {"text": "Pool \ud800 clip"}})
            lines.append(line(record, modelOutput={**body(None, text=text),
                                                   "usage": {"inputTokens": float("nan"), "outputTokens": 7}}))
        elif i == 24:  # nested too deep for any parser: this line fails, not the whole chunk
            lines.append(b'{"recordId": "%s", "modelOutput": %s%s}\n' % (record.encode(), b"[" * 100_000,
                                                                        b"]" * 100_000))
        else:
            lines.append(line(record, modelOutput=body(answer(i), stop="max_tokens" if i % 5 == 0 else "end_turn")))
    lines.append(line(ids["18:combined"], modelOutput=body(answer(18))))
    lines.append(line(ids["20:combined"], modelOutput=body(answer(99))))  # a duplicate: the first is kept
    alias = ids["21:combined"][0] + ids["21:combined"][1:].lower()  # the same record, spelt differently
    assert alias != ids["21:combined"]
    lines.append(line(alias, modelOutput=body(answer(21))))
    lines.append(line(analysis_db.record_id_for(other, "combined"), modelOutput=body(answer(1))))
    lines.append(line(ids["22:combined"].replace("X", "S", 1), modelOutput=body(answer(1))))  # wrong type
    lines.append(line("not-ours", modelOutput=body(answer(1))))
    lines.append(json.dumps({"modelOutput": body(answer(1))}).encode() + b"\n")
    lines.append(b"{not json at all\n")
    half = len(lines) // 2
    store.put_bytes(f"{PREFIX}{JOB_ID}/a.jsonl.out", b"".join(lines[:half]))
    store.put_bytes(f"{PREFIX}{JOB_ID}/b.jsonl.out", b"".join(lines[half:]))
    store.put_bytes(f"{PREFIX}{JOB_ID}/manifest.json.out", json.dumps({"totalRecordCount": 43}).encode())
    return services, chunk_id


def copy_of(root: Path, target: Path) -> Services:
    shutil.copytree(root, target)
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(target), "TESTING": True})
    return Services(settings=settings, store=LocalObjectStore(settings.objects_dir, settings.S3_BUCKET_NAME),
                    backend=None, catalog=load_catalog(), tasks=TaskRunner(settings.DATABASE_PATH),
                    signals=Signals(settings.DATABASE_PATH))


def state(services: Services, chunk_id: int) -> dict:
    conn = connect(services.settings.DATABASE_PATH)
    try:
        def rows(sql: str) -> list[tuple]:
            return [tuple(r) for r in conn.execute(sql)]
        chunk = chunks_db.get_chunk(conn, chunk_id)
        return {
            "results": rows("SELECT run_id, analysis_type, status, result, tokens_input, tokens_output, cost_usd,"
                            " truncated, stop_reason, warnings, error_code, error_message, completed_at IS NULL"
                            " FROM analysis_results ORDER BY run_id, analysis_type"),
            "runs": rows("SELECT id, status, tokens_input, tokens_output, cost_usd, truncated, error_code,"
                         " error_message, completed_at IS NULL FROM analysis_runs ORDER BY id"),
            "files": rows("SELECT id, analysis_status, latest_run_id FROM files ORDER BY id"),
            "dirty": rows("SELECT file_id FROM search_dirty ORDER BY file_id"),
            "chunk": {k: chunk[k] for k in ("status", "records_processed", "records_succeeded", "records_failed",
                                            "input_tokens", "output_tokens", "actual_cost_usd", "ingest_stats",
                                            "manifest_totals", "last_error")},
        }
    finally:
        conn.close()


def result_of_file(services: Services) -> dict[int, sqlite3.Row]:
    """The combined result row of each file, by file id."""
    conn = connect(services.settings.DATABASE_PATH)
    try:
        rows = conn.execute("SELECT r.file_id, res.* FROM analysis_results res JOIN analysis_runs r"
                            " ON r.id = res.run_id WHERE res.analysis_type = 'combined'").fetchall()
    finally:
        conn.close()
    return {row["file_id"]: row for row in rows}


@pytest.fixture
def output(tmp_path) -> tuple[Path, int]:
    root = tmp_path / "built"
    _, chunk_id = build(root)
    return root, chunk_id


def ingest_with(monkeypatch, services: Services, chunk_id: int, *, workers: int, **settings) -> tuple[dict, list]:
    """Ingest with `workers` processes (0: in this process); returns the outcome and the preparers made."""
    monkeypatch.setattr(ingest_pool, "PARALLEL_WORKERS", workers)
    monkeypatch.setattr(ingest_pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest_pool, "LINES_PER_TASK", 4)
    monkeypatch.setattr(ingest, "LINES_PER_TRANSACTION", 5)
    # The suite may leave threads behind; fork anyway here (the workers only parse and validate).
    monkeypatch.setattr(ingest_pool, "_pool_context", lambda: multiprocessing.get_context("fork"))
    for name, value in settings.items():
        monkeypatch.setattr(ingest_pool, name, value)
    made = []
    real_init = ingest_pool.LinePreparer.__init__

    def spy(self, count):
        real_init(self, count)
        made.append(self.pool is not None)

    monkeypatch.setattr(ingest_pool.LinePreparer, "__init__", spy)
    conn = connect(services.settings.DATABASE_PATH)
    try:
        outcome = ingest.ingest_chunk(conn, services, chunk_id)
    finally:
        conn.close()
    monkeypatch.undo()
    return outcome, made


@pytest.mark.parametrize("settings", [
    {},
    {"SLOT_INPUT_BYTES": 600},  # most batches too big for shared memory: sent through the pipe
    {"SLOT_OUTPUT_BYTES": 3000},  # most results too big for their slot: sent back through the pipe
], ids=["shared-memory", "pipe-in", "pipe-out"])
def test_workers_store_exactly_what_one_process_stores(tmp_path, monkeypatch, output, settings):
    root, chunk_id = output
    alone, pooled = copy_of(root, tmp_path / "alone"), copy_of(root, tmp_path / "pooled")
    if "SLOT_INPUT_BYTES" in settings or "SLOT_OUTPUT_BYTES" in settings:
        settings["_SLOT_BYTES"] = (settings.get("SLOT_INPUT_BYTES", ingest_pool.SLOT_INPUT_BYTES)
                                   + settings.get("SLOT_OUTPUT_BYTES", ingest_pool.SLOT_OUTPUT_BYTES))
    expected, made_alone = ingest_with(monkeypatch, alone, chunk_id, workers=0)
    got, made_pooled = ingest_with(monkeypatch, pooled, chunk_id, workers=2, **settings)
    assert made_alone == [False] and made_pooled == [True]
    assert got == expected
    assert state(pooled, chunk_id) == state(alone, chunk_id)
    stats = expected["stats"]
    assert expected["status"] == "PARTIAL"
    assert (stats["stored"], stats["already_stored"], stats["model_output_failed"], stats["error_lines"]) == (35, 1, 5, 1)
    assert (stats["duplicate_records"], stats["unknown_records"], stats["unparsable_lines"]) == (1, 4, 4)
    by_file = result_of_file(pooled)
    odd = by_file[24]  # file i is the (i + 1)th file
    assert (odd["status"], odd["tokens_input"], odd["tokens_output"]) == ("COMPLETED", 0, 7)
    assert json.loads(odd["result"])["summary"]["text"] == "Pool \ufffd clip"
    assert (by_file[25]["status"], by_file[25]["error_code"]) == ("FAILED", "unparsable_output")
    assert (stats["missing_records"], stats["blank_lines"], stats["lines"]) == (2, 1, 49)


def test_reading_the_same_output_again_changes_nothing(tmp_path, monkeypatch, output):
    root, chunk_id = output
    services = copy_of(root, tmp_path / "twice")
    first, _ = ingest_with(monkeypatch, services, chunk_id, workers=2)
    before = state(services, chunk_id)
    conn = connect(services.settings.DATABASE_PATH)
    conn.execute("UPDATE chunks SET status = 'FETCHING' WHERE id = ?", (chunk_id,))
    conn.close()
    again, _ = ingest_with(monkeypatch, services, chunk_id, workers=2)
    after = state(services, chunk_id)
    assert again["stats"]["stored"] == 0
    assert again["stats"]["already_stored"] == first["stats"]["stored"] + first["stats"]["already_stored"]
    assert after["results"] == before["results"] and after["runs"] == before["runs"]
    assert after["files"] == before["files"]


def test_a_pool_that_cannot_start_falls_back_to_this_process(tmp_path, monkeypatch, output):
    root, chunk_id = output
    alone, fallback = copy_of(root, tmp_path / "alone"), copy_of(root, tmp_path / "fallback")

    def no_processes(*args, **kwargs):
        raise OSError("no processes here")

    expected, _ = ingest_with(monkeypatch, alone, chunk_id, workers=0)
    got, made = ingest_with(monkeypatch, fallback, chunk_id, workers=2, ProcessPoolExecutor=no_processes)
    assert made == [False]
    assert got == expected and state(fallback, chunk_id) == state(alone, chunk_id)


_calls_in_this_process = []


def dies_on_its_second_batch(slot, ends, contexts):
    """_prepare_shared in a worker that is killed on its second batch (the pool is broken from then on)."""
    import os

    _calls_in_this_process.append(slot)
    if len(_calls_in_this_process) == 2:
        os._exit(1)
    return REAL_PREPARE_SHARED(slot, ends, contexts)


REAL_PREPARE_SHARED = ingest_pool._prepare_shared


def test_a_worker_that_dies_mid_way_leaves_its_lines_to_this_process(tmp_path, monkeypatch, output):
    root, chunk_id = output
    alone, broken = copy_of(root, tmp_path / "alone"), copy_of(root, tmp_path / "broken")
    expected, _ = ingest_with(monkeypatch, alone, chunk_id, workers=0)
    got, made = ingest_with(monkeypatch, broken, chunk_id, workers=2, _prepare_shared=dies_on_its_second_batch)
    assert made == [True]
    assert got == expected and state(broken, chunk_id) == state(alone, chunk_id)


def test_small_outputs_are_read_in_this_process(tmp_path, monkeypatch, output):
    root, chunk_id = output
    services = copy_of(root, tmp_path / "small")
    monkeypatch.setattr(ingest_pool, "PARALLEL_MIN_BYTES", 10**9)
    made = []
    real_init = ingest_pool.LinePreparer.__init__

    def spy(self, workers):
        made.append(workers)
        real_init(self, workers)

    monkeypatch.setattr(ingest_pool.LinePreparer, "__init__", spy)
    conn = connect(services.settings.DATABASE_PATH)
    try:
        assert ingest.ingest_chunk(conn, services, chunk_id)["outcome"] == "ingested"
    finally:
        conn.close()
    assert made == [0]


def test_a_process_with_other_threads_uses_the_fork_server_not_fork():
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert ingest_pool._pool_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs POSIX shared memory")
def test_workers_from_the_fork_server_store_exactly_what_one_process_stores(tmp_path, monkeypatch, output, caplog):
    """The server's path: its poller is a thread, so the workers come from the fork server and share
    a named memory segment, which is removed afterwards."""
    root, chunk_id = output
    alone, served = copy_of(root, tmp_path / "alone"), copy_of(root, tmp_path / "served")
    expected, _ = ingest_with(monkeypatch, alone, chunk_id, workers=0)
    segments = []
    real_area = ingest_pool._SharedArea

    def spy(size, *, named):
        area = real_area(size, named=named)
        segments.append(area.handle if named else None)
        return area

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([ingest_pool.__name__])
    # This output writes a few KB into the segment, so a small /dev/shm (a container's) is room enough.
    got, made = ingest_with(monkeypatch, served, chunk_id, workers=2, _pool_context=lambda: context,
                            _SharedArea=spy, _room_for_named_memory=lambda size: True)
    assert made == [True] and len(segments) == 1 and isinstance(segments[0], str)
    assert got == expected and state(served, chunk_id) == state(alone, chunk_id)
    assert not Path("/dev/shm", segments[0]).exists()
    assert "worker processes unavailable" not in caplog.text  # the workers did the work


def test_without_room_for_shared_memory_the_fork_server_workers_use_pipes(tmp_path, monkeypatch, output, caplog):
    root, chunk_id = output
    alone, piped = copy_of(root, tmp_path / "alone"), copy_of(root, tmp_path / "piped")
    expected, _ = ingest_with(monkeypatch, alone, chunk_id, workers=0)
    context = multiprocessing.get_context("forkserver")

    def no_area(size, *, named):
        raise AssertionError("shared memory made without room for it")

    got, made = ingest_with(monkeypatch, piped, chunk_id, workers=2, _pool_context=lambda: context,
                            _SHM_DIR=str(tmp_path / "no-such-dir"), _SharedArea=no_area)
    assert made == [True] and "worker processes unavailable" not in caplog.text
    assert got == expected and state(piped, chunk_id) == state(alone, chunk_id)
