"""Load the served app over HTTP: requests/s and p50/p95 per endpoint, development server vs waitress.

Run: .venv/bin/python bench/serve_load.py [--files 10000] [--analysed 200] [--clients 20] [--seconds 15]
                                          [--server both|dev|waitress] [--threads 8]
Seeds a data folder (files as bench/list_files.py seeds them, plus completed analyses for search), starts the
server in a subprocess (`dev`: Werkzeug's threaded development server, what run.py used to serve with;
`waitress`: run.py's server with SERVER_THREADS=--threads), and for each endpoint runs --clients threads, each
with one keep-alive connection (http.client), for --seconds. The clients share this process and the machine's
cores with the server, as an outside load test on the same machine would.
"""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402

ENDPOINTS = {
    "files": "/api/files?page=1&per_page=50",
    "search": "/api/search?q=waterfall",
}


# ---- the data -------------------------------------------------------------------------------------------

def seed_analyses(app, count: int, every: int) -> None:
    """`count` completed `combined` analyses (of every `every`-th file), then the search index of all files."""
    from ingest import combined_result  # bench/ingest.py: a realistic ~12 KB combined answer

    from app.db import analysis as analysis_db
    from app.db import connect, transaction
    from app.nova.prompts import PROMPT_VERSION
    from app.services import search

    model = app.extensions["services"].catalog.get("local-analyzer")
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    with transaction(conn):
        run_ids = []
        for n in range(count):
            run_id = analysis_db.insert_run(conn, file_id=1 + n * every, mode="on_demand", model_key=model.key,
                                            model_id=model.model_id, analysis_types=["combined"], options={},
                                            prompt_version=PROMPT_VERSION, status="RUNNING")
            analysis_db.store_result(conn, run_id, "combined", result=combined_result(n, 180.0), tokens_input=52_000,
                                     tokens_output=1_100, cost_usd=0.0, truncated=False, stop_reason="end_turn",
                                     warnings=[])
            run_ids.append(run_id)
        analysis_db.finalize_runs(conn, run_ids)
    search.reindex_all(conn)
    conn.close()


def prepare(data_dir: Path, files: int, analysed: int) -> None:
    from list_files import seed  # bench/list_files.py: the same 100,000-file generator, here with `files`

    app = create_app({"DATA_DIR": str(data_dir), "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning"})
    started = time.perf_counter()
    seed(app.config["SETTINGS"].DATABASE_PATH, files)
    seed_analyses(app, min(analysed, files), max(1, files // max(1, analysed)))
    print(f"seeded {files:,} files and {min(analysed, files)} analyses in {time.perf_counter() - started:.1f}s")
    app.extensions["services"].tasks.stop()


# ---- the server, in its own process ---------------------------------------------------------------------

def serve(kind: str) -> None:
    """The child: the app from the environment (as run.py makes it) behind the chosen server."""
    from app import start_background

    app = create_app()
    settings = app.config["SETTINGS"]
    if kind == "waitress":
        import run

        server = run.build_server(app)
        start_background(app)
        server.run()
    else:
        from werkzeug.serving import make_server

        server = make_server(settings.HOST, settings.PORT, app, threaded=True)  # what app.run(threaded=True) does
        start_background(app)
        server.serve_forever()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(kind: str, data_dir: Path, threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "HOST": "127.0.0.1", "PORT": str(port),
           "SERVER_THREADS": str(threads), "BATCH_POLLER_ENABLED": "false", "LOG_LEVEL": "warning"}
    # The server's log (the development server writes a line per request) goes to a file, as a service's would.
    log = open(data_dir / f"server-{kind}.log", "ab")
    child = subprocess.Popen([sys.executable, __file__, "--child", kind], env=env, cwd=data_dir, stdout=log,
                             stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while True:  # the child is a real server: wait until it answers
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                conn.close()
                return child, port
        except OSError:
            pass
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.2)


# ---- the load -------------------------------------------------------------------------------------------

def client_loop(port: int, target: str, stop_at: float, timings: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(type(exc).__name__)
            conn.close()  # http.client reconnects on the next request
            continue
        elapsed = time.perf_counter() - started
        if response.status == 200:
            timings.append(elapsed)
        else:
            errors.append(str(response.status))
    conn.close()


def load(port: int, target: str, clients: int, seconds: float) -> dict:
    timings: list[float] = []
    errors: list[str] = []
    client_loop(port, target, time.perf_counter() + 1.0, [], [])  # warm the server's caches
    stop_at = time.perf_counter() + seconds
    threads = [threading.Thread(target=client_loop, args=(port, target, stop_at, timings, errors))
               for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    timings.sort()
    p95 = timings[max(0, int(round(0.95 * len(timings))) - 1)] if timings else float("nan")
    return {"requests": len(timings), "rps": len(timings) / wall, "p50": statistics.median(timings) * 1000 if timings
            else float("nan"), "p95": p95 * 1000, "errors": len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--analysed", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--server", choices=("both", "dev", "waitress"), default="both")
    parser.add_argument("--threads", type=int, default=8, help="SERVER_THREADS for waitress")
    parser.add_argument("--child", choices=("dev", "waitress"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve(args.child)
        return
    kinds = ("dev", "waitress") if args.server == "both" else (args.server,)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        prepare(data_dir, args.files, args.analysed)
        print(f"{args.clients} clients with keep-alive, {args.seconds:g} s per endpoint; "
              f"waitress threads: {args.threads}")
        print(f"{'server':<9} {'endpoint':<8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
        for kind in kinds:
            child, port = start_server(kind, data_dir, args.threads)
            try:
                for name, target in ENDPOINTS.items():
                    r = load(port, target, args.clients, args.seconds)
                    print(f"{kind:<9} {name:<8} {r['requests']:>9} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
                          f"{r['errors']:>7}", flush=True)
            finally:
                child.terminate()
                child.wait(timeout=30)


if __name__ == "__main__":
    main()
