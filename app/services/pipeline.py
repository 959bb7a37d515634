"""What runs in the background and what follows what: the one registry of task kinds and their chain, and
of the provider pipelines the batch poller drives.

import -> proxies (unless the import said not to); an upload -> proxies for the new files; analysis runs
make their own proxies when one is missing. The app factory and the CLI both use this registry: the
server runs tasks in its TaskRunner, the CLI runs the same chain in the foreground. Each provider pipeline
(batch jobs, and any other service whose jobs the app follows) submits, checks, fetches and rolls up its
jobs in one pass `(conn, services, now, force=, status_checks=) -> outcome`; the poller runs them in turn.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

from app.services import analysis, derivatives, importing
from app.services.batch import staging
from app.services.batch.process import process_batches_once
from app.services.context import Services

ProviderPipeline = Callable[..., dict[str, Any]]


def provider_pipelines() -> dict[str, ProviderPipeline]:
    """The passes the batch poller runs every cycle, by name; each reports errors, submit/refresh/ingest."""
    return {
        "batch": process_batches_once,
    }


def register_task_kinds(services: Services) -> None:
    tasks = services.tasks
    tasks.register("import", lambda ctx, params: importing.run_import(ctx, params, roots=services.settings.LIBRARY_ROOTS),
                   then=after_import)
    tasks.register("proxies", lambda ctx, params: derivatives.run_derivatives(services.settings, ctx, params))
    tasks.register("analyze", lambda ctx, params: analysis.run_analyze_task(services, ctx, params))
    tasks.register("batch_stage", lambda ctx, params: staging.run_stage_task(services, ctx, params))


def import_params(folder: Path, *, recursive: bool, generate_proxies: bool) -> dict[str, Any]:
    return {"path": str(folder), "recursive": recursive, "generate_proxies": generate_proxies}


def after_import(params: dict[str, Any], _result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """An import is followed by proxies and thumbnails for the files of its folder that have none."""
    if not params.get("generate_proxies", True):
        return []
    folder_filter = {"directory": params["path"], "recursive": params.get("recursive", True)}
    return [("proxies", {"filter": folder_filter, "missing": True, "force": False})]


def start_import(services: Services, conn: sqlite3.Connection, folder: Path, *, recursive: bool,
                 generate_proxies: bool) -> str:
    return services.tasks.submit(conn, "import", import_params(folder, recursive=recursive,
                                                               generate_proxies=generate_proxies))


def start_proxies(services: Services, conn: sqlite3.Connection, params: dict[str, Any]) -> str:
    return services.tasks.submit(conn, "proxies", params)


def after_upload(services: Services, conn: sqlite3.Connection, file_ids: list[int]) -> str | None:
    """Uploaded files get their proxies and thumbnails in the background."""
    if not file_ids:
        return None
    return start_proxies(services, conn, {"file_ids": file_ids, "force": False})
