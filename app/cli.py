"""Flask CLI commands: import, proxies and listing, with progress bars."""
from __future__ import annotations

import json
import sqlite3
import sys
import time
from typing import Callable, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.db import jobs as jobs_db
from app.db.connection import connect
from app.errors import AppError
from app.services import library
from app.services.jobs import job_to_dict


T = TypeVar("T")


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def call_service(work: Callable[[sqlite3.Connection], T]) -> T:
    """work(conn) on a connection of its own; an AppError ends the command with its message (exit 1)."""
    conn = connect(current_app.config["SETTINGS"].DATABASE_PATH)
    try:
        return work(conn)
    except AppError as exc:
        fail(exc.message)
    finally:
        conn.close()


def run_job_with_progress(kind: str, params: dict, label: str) -> dict:
    """Submit a job and follow it with a progress bar until it ends; Ctrl-C cancels it."""
    settings = current_app.config["SETTINGS"]
    runner = current_app.extensions["jobs"]
    conn = connect(settings.DATABASE_PATH)
    try:
        job_id = runner.submit(conn, kind, params)
        shown = 0
        bar = None
        try:
            while True:
                row = jobs_db.get_job(conn, job_id)
                if row["total"] is not None and bar is None:
                    bar = click.progressbar(length=max(row["total"], 1), label=label, show_pos=True)
                    bar.__enter__()
                if bar is not None and row["done"] > shown:
                    bar.update(row["done"] - shown)
                    shown = row["done"]
                if row["status"] in jobs_db.TERMINAL_STATUSES:
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            runner.cancel(conn, job_id)
            click.echo("\nCancelling…", err=True)
            runner.wait(job_id, timeout=120)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        return job_to_dict(conn, jobs_db.get_job(conn, job_id))
    finally:
        conn.close()


def _print_summary(job: dict) -> None:
    counters = {k: v for k, v in job["counters"].items() if not k.startswith("_")}
    click.echo(f"{job['kind']} {job['status'].lower()}: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
    for failure in job["failed"][:20]:
        click.echo(f"  failed: {failure['item']}: {failure['reason']}", err=True)
    if job["error"]:
        click.echo(f"  error: {job['error']}", err=True)


@click.command("import-dir")
@with_appcontext
@click.argument("path")
@click.option("--recursive/--no-recursive", default=True, help="Scan sub-folders too (default).")
@click.option("--proxies/--no-proxies", default=True, help="Generate proxies and thumbnails afterwards (default).")
def import_dir_command(path: str, recursive: bool, proxies: bool) -> None:
    """Import the media files of a folder into the library."""
    settings = current_app.config["SETTINGS"]
    try:
        folder = library.resolve_library_dir(settings, path)
    except AppError as exc:
        fail(exc.message)
    job = run_job_with_progress("import", {"path": str(folder), "recursive": recursive,
                                           "generate_proxies": False}, "Importing")
    _print_summary(job)
    if proxies and job["status"] == "SUCCEEDED":
        proxy_job = run_job_with_progress(
            "proxies", {"filter": {"directory": str(folder), "recursive": recursive}, "missing": True}, "Proxies")
        _print_summary(proxy_job)
    if job["status"] != "SUCCEEDED":
        sys.exit(1)


@click.command("proxies")
@with_appcontext
@click.option("--all", "select_all", is_flag=True, help="Every file (skips those already done unless --force).")
@click.option("--missing", is_flag=True, help="Only files without a proxy (default).")
@click.option("--force", is_flag=True, help="Regenerate even when a proxy exists.")
def proxies_command(select_all: bool, missing: bool, force: bool) -> None:
    """Generate proxies and thumbnails."""
    params = {"filter": {}, "missing": not (select_all or force) or missing, "force": force}
    job = run_job_with_progress("proxies", params, "Proxies")
    _print_summary(job)
    if job["status"] != "SUCCEEDED":
        sys.exit(1)


files_group = AppGroup("files", help="Browse the library.")


@files_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--q", default=None, help="Substring of name or path.")
@click.option("--media-type", type=click.Choice(["video", "image"]), default=None)
@click.option("--page", default=1, type=int)
@click.option("--per-page", default=100, type=int)
def files_list_command(as_json: bool, q: str | None, media_type: str | None, page: int, per_page: int) -> None:
    """List files in the library."""
    def list_page(conn: sqlite3.Connection) -> dict:
        query = library.parse_file_query({"q": q, "media_type": media_type, "page": page, "per_page": per_page})
        return library.list_files(conn, query)

    result = call_service(list_page)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for item in result["items"]:
        duration = f"{item['duration_seconds']:.1f}s" if item["duration_seconds"] else "-"
        size = f"{item['width']}x{item['height']}" if item["width"] else "-"
        proxy = "proxy" if item["has_proxy"] else "-"
        click.echo(f"{item['id']:>6}  {item['media_type']:<5}  {duration:>8}  {size:>9}  {proxy:<5}  {item['path']}")
    summary = result["summary"]
    click.echo(f"{summary['count']} file(s), {summary['total_bytes']} bytes, "
               f"{summary['total_duration_seconds']:.1f} s of video")


def init_app(app: Flask) -> None:
    app.cli.add_command(import_dir_command)
    app.cli.add_command(proxies_command)
    app.cli.add_command(files_group)

    from app import cli_batch

    cli_batch.init_app(app)
