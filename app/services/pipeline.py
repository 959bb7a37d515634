"""What runs in the background and what follows what: the one registry of task kinds and their chain, and
of the provider pipelines the batch poller drives.

import -> subtitles (a video's own subtitles become its transcript) and proxies (unless the import said not
to); an upload -> proxies for the new files; analysis runs make their own proxies when one is missing. The
app factory and the CLI both use this registry: the server runs tasks in its TaskRunner, the CLI runs the
same chain in the foreground. Each provider pipeline (batch jobs, and any other service whose jobs the app
follows) submits, checks, fetches and rolls up its jobs in one pass
`(conn, services, now, force=, status_checks=) -> outcome`; the poller runs them in turn.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

from app.services import analysis, derivatives, embeddings, importing
from app.services.batch import staging
from app.services.batch.process import process_batches_once
from app.services.context import Services
from app.services.embedding_jobs import process_embeddings_once
from app.services.segments import merging
from app.services.segments.records import MERGE_TASK
from app.services.transcripts import staging as transcript_staging
from app.services.transcripts import subtitles as transcript_subtitles
from app.services.transcripts.process import process_transcripts_once

ProviderPipeline = Callable[..., dict[str, Any]]


def provider_pipelines() -> dict[str, ProviderPipeline]:
    """The passes the batch poller runs every cycle, by name; each reports errors, submit/refresh/ingest."""
    return {
        "batch": process_batches_once,
        "transcripts": process_transcripts_once,
        "embeddings": process_embeddings_once,
    }


def register_task_kinds(services: Services) -> None:
    tasks = services.tasks
    tasks.register("import", lambda ctx, params: importing.run_import(ctx, params, roots=services.settings.LIBRARY_ROOTS),
                   then=after_import)
    tasks.register("proxies", lambda ctx, params: derivatives.run_derivatives(services.settings, ctx, params))
    tasks.register("analyze", lambda ctx, params: analysis.run_analyze_task(services, ctx, params),
                   then=lambda params, result: embed_new_texts(services))
    tasks.register("batch_stage", lambda ctx, params: staging.run_stage_task(services, ctx, params))
    # A segmented run's (run, type) merged once its segments have answered; it completes the run as analyze does.
    tasks.register(MERGE_TASK, lambda ctx, params: merging.run_merge_task(services, ctx, params),
                   then=lambda params, result: embed_new_texts(services))
    tasks.register("subtitles",
                   lambda ctx, params: transcript_subtitles.run_subtitles_task(services.settings, ctx, params),
                   then=lambda params, result: embed_new_texts(services)
                   if result.get("sidecar") or result.get("subtitle_stream") else [])
    tasks.register("transcribe", lambda ctx, params: transcript_staging.run_transcribe_task(services, ctx, params))
    tasks.register(embeddings.TASK_KIND, lambda ctx, params: embeddings.run_embed_task(services, ctx, params))


def embed_new_texts(services: Services) -> list[tuple[str, dict[str, Any]]]:
    """Completed runs and new transcripts queue their files for embedding (triggers); with EMBEDDINGS_ENABLED an
    embed task follows at once (batch results and fetched transcripts are picked up by the poller's
    "embeddings" pass, which runs after the batch and transcripts passes)."""
    return [(embeddings.TASK_KIND, {})] if services.settings.EMBEDDINGS_ENABLED else []


def import_params(folder: Path, *, recursive: bool, generate_proxies: bool) -> dict[str, Any]:
    return {"path": str(folder), "recursive": recursive, "generate_proxies": generate_proxies}


def after_import(params: dict[str, Any], _result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """An import is followed by its videos' subtitles (sidecar or stream) becoming their transcripts, at once and
    free, then by proxies and thumbnails for the files of its folder that have none."""
    folder_filter = {"directory": params["path"], "recursive": params.get("recursive", True)}
    follow = [("subtitles", {"filter": folder_filter})]
    if params.get("generate_proxies", True):
        follow.append(("proxies", {"filter": folder_filter, "missing": True, "force": False}))
    return follow


def start_import(services: Services, conn: sqlite3.Connection, folder: Path, *, recursive: bool,
                 generate_proxies: bool) -> str:
    return services.tasks.submit(conn, "import", import_params(folder, recursive=recursive,
                                                               generate_proxies=generate_proxies))


def start_proxies(services: Services, conn: sqlite3.Connection, params: dict[str, Any]) -> str:
    return services.tasks.submit(conn, "proxies", params)


def after_upload(services: Services, conn: sqlite3.Connection, file_ids: list[int]) -> str | None:
    """Uploaded files get their subtitle streams as transcripts, and proxies and thumbnails, in the background;
    the proxies task's id."""
    if not file_ids:
        return None
    services.tasks.submit(conn, "subtitles", {"file_ids": file_ids})
    return start_proxies(services, conn, {"file_ids": file_ids, "force": False})
