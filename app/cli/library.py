"""Commands for the library: import a folder, make proxies, list files."""
from __future__ import annotations

import json
import sqlite3
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from app.cli.common import call_service, fail, run_chain, services
from app.errors import AppError
from app.services import importing, library, pipeline

LABELS = {"import": "Importing", "proxies": "Proxies"}


@click.command("import-dir")
@with_appcontext
@click.argument("path")
@click.option("--recursive/--no-recursive", default=True, help="Scan sub-folders too (default).")
@click.option("--proxies/--no-proxies", default=True, help="Generate proxies and thumbnails afterwards (default).")
def import_dir_command(path: str, recursive: bool, proxies: bool) -> None:
    """Import the media files of a folder into the library."""
    try:
        folder = importing.resolve_library_dir(services().settings, path)
    except AppError as exc:
        fail(exc.message)
    params = pipeline.import_params(folder, recursive=recursive, generate_proxies=proxies)
    done = run_chain("import", params, LABELS)
    if done[0]["status"] != "SUCCEEDED":
        sys.exit(1)


@click.command("proxies")
@with_appcontext
@click.option("--all", "select_all", is_flag=True, help="Every file (skips those already done unless --force).")
@click.option("--missing", is_flag=True, help="Only files without a proxy (default).")
@click.option("--force", is_flag=True, help="Regenerate even when a proxy exists.")
def proxies_command(select_all: bool, missing: bool, force: bool) -> None:
    """Generate proxies and thumbnails."""
    params = {"filter": {}, "missing": not (select_all or force) or missing, "force": force}
    done = run_chain("proxies", params, LABELS)
    if done[-1]["status"] != "SUCCEEDED":
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
