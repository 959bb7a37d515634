"""Time batch-output ingestion: N records (~4 KB of result JSON each) read from the local store.

    .venv/bin/python bench/ingest.py                    # 10,000 records: speed (target >= 5,000 records/s)
    .venv/bin/python bench/ingest.py --records 100000   # memory: peak RSS growth (target <= 60 MB)
    .venv/bin/python bench/ingest.py --server           # as the server does it (its poller is a thread)

Big outputs are parsed and validated in worker processes (app/services/batch/ingest.py); their memory is
reported too: the private memory each one added (pages it shares with this process are counted once,
in this process's RSS), sampled while ingestion runs. A process with one thread forks them; the server,
whose poller is a thread, gets them from multiprocessing's fork server, started with the first big
output and kept: --server keeps another thread running and times two chunks, the first one paying for
starting the fork server.

The output is what Bedrock writes for a chunk: `<output prefix>/<job id>/*.jsonl.out` lines holding
recordId, the echoed modelInput and a Nova modelOutput, plus manifest.json.out; ingestion is the
app's own `ingest_chunk` (stream, join by recordId, validate, store in batched transactions).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import load_settings  # noqa: E402
from app.db import analysis as analysis_db  # noqa: E402
from app.db import batches as batches_db  # noqa: E402
from app.db import chunks as chunks_db  # noqa: E402
from app.db import connect, transaction  # noqa: E402
from app.db.migrator import migrate  # noqa: E402
from app.nova.catalog import load_catalog  # noqa: E402
from app.nova.prompts import PROMPT_VERSION, FileContext  # noqa: E402
from app.nova.requests import build_request, video_media_s3  # noqa: E402
from app.services.context import Services  # noqa: E402
from app.services.signals import Signals  # noqa: E402
from app.services.tasks import TaskRunner  # noqa: E402
from app.services.batch import ingest, ingest_pool  # noqa: E402
from app.services.batch.ingest import ingest_chunk  # noqa: E402
from app.storage import LocalObjectStore  # noqa: E402

TARGET_RECORDS_PER_SECOND = 5000
TARGET_MEMORY_MB = 60
RECORDS_PER_FILE = 50_000  # Bedrock's own per-file record limit
JOB_ID = "benchjob0001"


def combined_result(i: int, duration: float) -> dict:
    """A realistic combined answer (about 4 KB as JSON) that passes validation."""
    chapter_len = duration / 4
    return {
        "summary": {
            "text": (f"Video {i} shows a crew building a natural stone waterfall beside a backyard pool. "
                     "The first part covers excavation and the liner, the second stacking boulders on a "
                     "foam base, the third plumbing the spillway and the last the finished water feature "
                     "running at dusk. The installer explains each step to the homeowner and points out the "
                     "choices that keep the rock work stable and the water sheeting evenly over the lip.") * 2,
            "depth": "standard", "language": "en",
            "key_points": ["Excavation and liner placement", "Boulders set on expanding foam",
                           "Spillway plumbed with a 2 inch line", "Finished feature shown running at dusk"],
        },
        "chapters": {"chapters": [
            {"title": f"Part {n + 1}: {name}", "start_seconds": round(n * chapter_len, 2),
             "end_seconds": round((n + 1) * chapter_len, 2),
             "summary": f"The crew works on the {name.lower()} while the installer explains the method and the "
                        "materials used, with close-ups of the details that matter.",
             "key_points": [f"{name} begins", "Tools and materials shown", "Installer commentary"]}
            for n, name in enumerate(("Excavation", "Rock work", "Plumbing", "Reveal"))]},
        "elements": {
            "equipment": [{"name": "mini excavator", "category": "machinery", "confidence": 0.86,
                           "time_ranges": [{"start_seconds": 3.0, "end_seconds": 41.5}]},
                          {"name": "pump", "category": "plumbing", "confidence": 0.74,
                           "time_ranges": [{"start_seconds": 120.0, "end_seconds": 150.0}]}],
            "topics": [{"name": "waterfall construction", "description": "building a pool waterfall",
                        "time_ranges": [{"start_seconds": 0.0, "end_seconds": duration}]}],
            "people": {"max_count": 3, "descriptions": ["installer in a grey shirt", "homeowner"]},
            "speakers": [{"label": "Speaker 1", "role": "installer",
                          "time_ranges": [{"start_seconds": 10.0, "end_seconds": 90.0}]}],
            "visual": {"dominant_colors": ["#6b7b8c", "#3c4a2f", "#d9d2c5"], "brightness": "normal",
                       "motion": "medium", "has_audio": True},
        },
        "waterfall_classification": {
            "family": "Custom Natural Stone", "tier_level": "Deluxe (Medium)", "functional_type": "Waterfall",
            "sub_type": "Two-Tier",
            "confidence": {"family": 0.88, "tier_level": 0.76, "functional_type": 0.93, "sub_type": 0.81,
                           "overall": 0.76},
            "evidence": ["natural boulders stacked by hand", "two spill points at different heights"],
            "unknown_reasons": {}, "search_tags": ["waterfall", "natural stone", "pool"],
            "product_keywords": ["boulder waterfall", "two tier"], "content_type": "building_demonstration",
            "skill_level": "professional",
        },
        "search_metadata": {
            "recording_date": {"date": "2024-05-01", "source": "filename", "confidence": 0.7},
            "project": {"name": f"Backyard project {i}", "customer": None, "code": None},
            "location": {"name": None, "city": "Austin", "region": "TX", "country": "US", "gps": None},
            "camera": None,
            "entities": [{"type": "product", "value": "natural stone waterfall", "confidence": 0.8}],
            "keywords": ["waterfall", "pool", "construction", "boulders", "spillway"],
        },
    }


def summary_result(i: int) -> dict:
    """A long summary answer (about 4 KB as JSON): little structure, so validation is cheap."""
    summary = combined_result(i, 180.0)["summary"]
    return summary | {"text": "\n\n".join([summary["text"].strip()] * 2)[:3600]}


def output_line(record_id: str, i: int, model_input: dict, analysis_type: str) -> bytes:
    duration = 180.0
    result = combined_result(i, duration) if analysis_type == "combined" else summary_result(i)
    text = json.dumps(result)
    body = {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 52_000, "outputTokens": 1_100, "totalTokens": 53_100}}
    return json.dumps({"recordId": record_id, "modelInput": model_input, "modelOutput": body}).encode() + b"\n"


def build_services(root: Path) -> Services:
    settings = load_settings(environ={}, overrides={"DATA_DIR": str(root), "TESTING": True})
    store = LocalObjectStore(settings.objects_dir, settings.S3_BUCKET_NAME)
    return Services(settings=settings, store=store, backend=None, catalog=load_catalog(),
                        tasks=TaskRunner(settings.DATABASE_PATH),
                        signals=Signals(settings.DATABASE_PATH))


def setup(root: Path, records: int, analysis_type: str) -> tuple[int, int]:
    """A database with one FETCHING chunk of `records` combined runs and its output in the store."""
    services = build_services(root)
    store = services.store
    conn = connect(services.settings.DATABASE_PATH)
    migrate(conn)
    model = services.catalog.get("local-analyzer")
    stamp = "2026-11-25T12:00:00.000000+00:00"
    with transaction(conn):
        batch_id = batches_db.insert_batch(conn, model_key=model.key, model_id=model.model_id, mode="batch",
                                           analysis_types=[analysis_type], options={}, files_total=records,
                                           records_total=records, plan={}, estimated_cost_usd=0, created_at=stamp)
        chunk_id = chunks_db.insert_chunk(
            conn, batch_id=batch_id, chunk_index=0, total_chunks=1, model_id=model.model_id,
            job_name="bench-job", client_token="benchtoken", staging_folder="nova_batch/job_bench_001/",
            manifest_key="nova_batch/job_bench_001/manifest.jsonl", output_prefix="nova_batch_output/job_bench_001/",
            files_count=records, bytes_total=0, records_total=records, estimated_cost_usd=0, created_at=stamp,
            status="FETCHING")
        conn.execute("UPDATE chunks SET job_id = ?, provider_status = 'Completed' WHERE id = ?",
                     (JOB_ID, chunk_id))
        file_rows = [(f"/library/project {i}/clip {i}.mp4", f"/library/project {i}", f"clip {i}.mp4", 50_000_000,
                      0.0, f"fp{i}", "video", 180.0, "ready", stamp, stamp) for i in range(records)]
        conn.executemany("INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type,"
                         " duration_seconds, status, imported_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         file_rows)
        run_ids = []
        for file_id in range(1, records + 1):
            run_ids.append(analysis_db.insert_run(
                conn, file_id=file_id, mode="batch", model_key=model.key, model_id=model.model_id,
                analysis_types=[analysis_type], options={}, prompt_version=PROMPT_VERSION, status="SUBMITTED",
                batch_id=batch_id, chunk_id=chunk_id, with_record_ids=True))
    conn.close()
    prefix = f"nova_batch_output/job_bench_001/{JOB_ID}/"
    media = video_media_s3(f"s3://{store.bucket}/nova_batch/job_bench_001/files/clip.mp4", "mp4")
    ctx = FileContext(name="clip.mp4", folder="/library/project", duration_seconds=180.0, media_type="video")
    model_input = build_request(analysis_type, ctx, {}, media=media, max_output_tokens=model.max_output_tokens)
    tmp = root / "out.jsonl"
    for part, start in enumerate(range(0, records, RECORDS_PER_FILE)):
        with open(tmp, "wb") as handle:
            # Bedrock does not keep input order: write each file's records in a shuffled order.
            ids = list(range(start, min(start + RECORDS_PER_FILE, records)))
            ids = ids[1::2] + ids[::2]
            for i in ids:
                handle.write(output_line(analysis_db.record_id_for(run_ids[i], analysis_type), i, model_input,
                                         analysis_type))
        store.put_file(f"{prefix}part-{part:03d}.jsonl.out", tmp, content_type="application/jsonl")
    tmp.unlink()
    store.put_bytes(f"{prefix}manifest.json.out", json.dumps({
        "totalRecordCount": records, "processedRecordCount": records, "successRecordCount": records,
        "errorRecordCount": 0, "inputTokenCount": 52_000 * records, "outputTokenCount": 1_100 * records}).encode())
    return chunk_id, sum(o.size for o in store.list(prefix))


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class ChildMemory:
    """Samples the memory of this process's other descendants (the ingestion workers, and the fork
    server with its workers) from a helper process.

    A helper process rather than a thread: ingestion forks its workers only while the process has no
    other threads. For each descendant: peak RSS and peak private memory (Private_Clean + Private_Dirty of
    smaps_rollup: what it shares with no other process).
    """

    def __init__(self) -> None:
        self.peak_rss: dict[int, float] = {}
        self.peak_private: dict[int, float] = {}
        self.roles: dict[int, str] = {}
        self.helper = subprocess.Popen([sys.executable, __file__, "--sample-children", str(os.getpid())],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.helper.stdout.readline()  # "ready"

    def stop(self) -> None:
        output, _ = self.helper.communicate("")
        peaks = json.loads(output.strip().splitlines()[-1])
        self.peak_rss = {int(pid): mb for pid, mb in peaks["rss"].items()}
        self.peak_private = {int(pid): mb for pid, mb in peaks["private"].items()}
        self.roles = {int(pid): role for pid, role in peaks["roles"].items()}

    def private(self, role: str) -> list[float]:
        return [mb for pid, mb in self.peak_private.items() if self.roles.get(pid) == role]


def children_of(pid: int) -> set[int]:
    pids: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return pids
    for task in tasks:
        try:
            pids.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


def sample_children(parent: int, interval: float = 0.2) -> None:
    """The helper's loop: sample parent's descendants (but itself) until stdin closes, then print the peaks."""
    import select

    peak_rss: dict[int, float] = {}
    peak_private: dict[int, float] = {}
    roles: dict[int, str] = {}
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], interval)[0]:
        pids: set[int] = set()
        todo = children_of(parent) - {os.getpid()}
        while todo:
            pid = todo.pop()
            pids.add(pid)
            todo |= children_of(pid) - pids
        for pid in pids:
            try:
                lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            except OSError:
                continue
            kb = {name: int(rest.split()[0]) for name, _, rest in (line.partition(":") for line in lines)
                  if rest.strip().endswith("kB")}
            peak_rss[pid] = max(peak_rss.get(pid, 0.0), kb.get("Rss", 0) / 1000)
            private = (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1000
            peak_private[pid] = max(peak_private.get(pid, 0.0), private)
            if pid not in roles:
                roles[pid] = process_role(pid, parent)
    print(json.dumps({"rss": peak_rss, "private": peak_private, "roles": roles}))


def process_role(pid: int, parent: int) -> str:
    """worker, or the fork server or resource tracker that multiprocessing keeps for the process's life
    (children of `parent`; the fork server's children, which inherit its command line, are workers)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return "worker"
    if ppid != parent:
        return "worker"
    for role, marker in (("fork server", b"multiprocessing.forkserver"),
                         ("resource tracker", b"multiprocessing.resource_tracker")):
        if marker in command:
            return role
    return "worker"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--type", dest="analysis_type", choices=("combined", "summary"), default="combined",
                        help="combined: the default analysis, five validated sections (default); summary: one text")
    parser.add_argument("--tracemalloc", action="store_true", help="also report Python's traced peak (slower)")
    parser.add_argument("--server", action="store_true",
                        help="ingest as the server does, with another thread running: two chunks, workers from "
                             "the fork server")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"worker processes for big outputs (default {ingest_pool.PARALLEL_WORKERS}; 0: parse in "
                             "this process, as outputs under 16 MB always are)")
    parser.add_argument("--setup-only", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--sample-children", metavar="PID", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sample_children:
        sample_children(args.sample_children)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.setup_only:
        chunk_id, output_bytes = setup(Path(args.setup_only), args.records, args.analysis_type)
        print(json.dumps({"chunk_id": chunk_id, "output_bytes": output_bytes}))
        return 0
    if args.workers is not None:
        ingest_pool.PARALLEL_WORKERS = args.workers
    if args.server:
        stop = threading.Event()  # the poller's thread, in the server
        threading.Thread(target=stop.wait, name="poller", daemon=True).start()
    labels = ["first chunk, fork server started on the way", "second chunk"] if args.server else [None]
    ok = True
    for label in labels:
        ok = run_once(args, label) and ok
    return 0 if ok else 1


def run_once(args: argparse.Namespace, label: str | None) -> bool:
    """Make one chunk's output, ingest it, print the figures; True when every record was stored."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        started = time.perf_counter()
        # The data is made in another process, so this one's peak memory is ingestion's alone.
        made = subprocess.run([sys.executable, __file__, "--records", str(args.records), "--type", args.analysis_type,
                               "--setup-only", tmp], check=True, capture_output=True, text=True)
        prepared = json.loads(made.stdout.strip().splitlines()[-1])
        output_bytes = prepared["output_bytes"]
        print(f"setup: {args.records:,} {args.analysis_type} records, {output_bytes / 1e6:.1f} MB of output "
              f"({output_bytes / args.records / 1000:.1f} KB a line) in {time.perf_counter() - started:.1f} s")
        services = build_services(Path(tmp))
        conn = connect(services.settings.DATABASE_PATH)
        baseline = rss_mb()
        if args.tracemalloc:
            tracemalloc.start()
        workers = ChildMemory()
        started = time.perf_counter()
        outcome = ingest_chunk(conn, services, prepared["chunk_id"])
        elapsed = time.perf_counter() - started
        workers.stop()
        traced = tracemalloc.get_traced_memory()[1] / 1e6 if args.tracemalloc else None
        if args.tracemalloc:
            tracemalloc.stop()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000
        conn.close()
    stats = outcome["stats"]
    rate = args.records / elapsed
    print(f"ingest{f' ({label})' if label else ''}: {outcome['status']}, stored {stats['stored']:,}, "
          f"failed {stats['model_output_failed']}, missing {stats['missing_records']} in {elapsed:.2f} s = "
          f"{rate:,.0f} records/s (target >= {TARGET_RECORDS_PER_SECOND:,})")
    print(f"memory: RSS {baseline:.1f} MB before, peak {peak:.1f} MB: growth {peak - baseline:.1f} MB "
          f"(target <= {TARGET_MEMORY_MB} MB)" + (f"; tracemalloc peak {traced:.1f} MB" if traced is not None else ""))
    ours = workers.private("worker")
    if ours:
        print(f"workers: {len(ours)} processes, peak private memory {' + '.join(f'{mb:.1f}' for mb in ours)} MB "
              f"(RSS incl. shared pages: {max(workers.peak_rss.values()):.1f} MB each at most); "
              f"ingestion in all: growth {peak - baseline + sum(ours):.1f} MB")
    kept = {role: workers.private(role) for role in ("fork server", "resource tracker")}
    if any(kept.values()):
        print("kept for the life of the process, not counted above: "
              + ", ".join(f"{role} {sum(mbs):.1f} MB private" for role, mbs in kept.items() if mbs))
    return outcome["status"] == "COMPLETED" and stats["stored"] == args.records

if __name__ == "__main__":
    sys.exit(main())
