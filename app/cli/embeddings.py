"""Commands for semantic search: what is embedded, and a backfill that shows its estimate, then runs here."""
from __future__ import annotations

import json
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

from app.cli.common import call_service, fail, run_task, services
from app.services import embedding_backfill, embedding_jobs

embeddings_group = AppGroup("embeddings", help="Vectors for semantic search.")


@embeddings_group.command("status")
def status_command() -> None:
    """Show the backend, what is embedded and what waits."""
    click.echo(json.dumps(call_service(lambda conn: embedding_backfill.status(services(), conn)), indent=2))


@embeddings_group.command("backfill")
@click.option("--all", "every", is_flag=True, help="Embed again what is already embedded (default: only what is missing).")
@click.option("--yes", is_flag=True, help="Do not ask before starting.")
@click.option("--wait/--no-wait", default=True, help="Wait for the video embeddings too (default).")
@click.option("--poll-seconds", default=15.0, type=float, help="Between status checks of video embeddings on Bedrock.")
def backfill_command(every: bool, yes: bool, wait: bool, poll_seconds: float) -> None:
    """Embed the library's images, video segments and analysis texts, with a cost estimate first."""
    _ids, estimate = call_service(lambda conn: embedding_backfill.plan(services(), conn, None, not every))
    click.echo(_estimate_text(estimate))
    if not estimate["files"]:
        click.echo("Nothing to embed.")
        return
    if not yes and not click.confirm("Start?", default=True):
        sys.exit(1)
    started = call_service(lambda conn: embedding_backfill.start_backfill(
        services(), conn, {"confirm": True, "missing_only": not every}))
    task = run_task(started["task_id"], "Embedding")
    if task["status"] != "SUCCEEDED":
        fail(task["error"] or f"the embed task ended {task['status']}")
    for failure in task["failed"][:20]:
        click.echo(f"  failed: {failure['item']}: {failure['reason']}", err=True)
    if wait:
        _wait_for_videos(poll_seconds if services().embeddings.name == "bedrock" else 0.0)
    click.echo(json.dumps(call_service(lambda conn: embedding_backfill.status(services(), conn)), indent=2))


def _wait_for_videos(poll_seconds: float) -> None:
    """Drive the video invocations here (as the poller would) until none is unfinished."""
    total = call_service(embedding_jobs.unfinished)
    if not total:
        return
    with click.progressbar(length=total, label="Videos", show_pos=True) as bar:
        shown = 0
        while True:
            outcome = call_service(lambda conn: embedding_jobs.process_embeddings_once(conn, services(), force=True))
            for error in outcome["errors"]:
                click.echo(f"\n  {error}", err=True)
            left = call_service(embedding_jobs.unfinished)
            bar.update(max(0, total - left - shown))
            shown = total - left
            if not left:
                return
            time.sleep(poll_seconds)


def _estimate_text(estimate: dict) -> str:
    backend = estimate["backend"]
    cost = estimate["cost_usd"]
    known = f"${cost['bedrock_known_total']:.4f}" + (f" + unknown ({', '.join(cost['unknown'])})" if cost["unknown"] else "")
    return "\n".join([
        f"Backend: {backend['name']} ({backend['model']}, {backend['dimension']} dimensions)",
        f"Files: {estimate['files']} ({estimate['images']} images, {estimate['videos']} videos of "
        f"{estimate['video_seconds']:.0f} s in {estimate['video_segments']} segments, {estimate['text_files']} with analysis text)",
        f"Texts: about {estimate['texts']} ({estimate['text_tokens']} tokens)",
        f"Cost on Bedrock: {known}" + ("" if cost["charged"] else " (the local backend charges nothing)"),
    ])


def init_app(app: Flask) -> None:
    app.cli.add_command(embeddings_group)
