"""Commands for speech transcripts: `flask transcribe` (estimate, confirm, stage with a progress bar, and with
--wait follow the jobs here as the server's poller would) and `flask transcript FILE_ID` (print one)."""
from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from app.cli.common import call_service, fail, follow, money, print_summary, run_task, services
from app.services.transcripts import formats, requests, store
from app.services.transcripts.process import process_transcripts_once


def _print_estimate(estimate: dict[str, Any]) -> None:
    click.echo(f"{estimate['files']} file(s) selected: {estimate['to_transcribe']} to transcribe "
               f"({estimate['minutes']:.1f} min of audio) with {estimate['backend']}, estimated "
               f"{money(estimate['cost_usd'])} (Amazon Transcribe: {money(estimate['aws_cost_usd'])} at "
               f"${estimate['price_per_minute']}/min, at least {estimate['min_billed_seconds']:.0f} s a file)")
    for reason in estimate["reasons"]:
        click.echo(f"  {reason}")


@click.command("transcribe")
@with_appcontext
@click.option("--file-id", "file_ids", multiple=True, type=int, help="A file to transcribe (repeatable).")
@click.option("--q", default=None, help="Files whose name or path contains this text.")
@click.option("--all", "select_all", is_flag=True, help="Every video of the library.")
@click.option("--force", is_flag=True, help="Transcribe even files that have subtitles or a transcript.")
@click.option("--language", default=None, help="Language code such as en-US (default: TRANSCRIBE_LANGUAGE).")
@click.option("--yes", is_flag=True, help="Do not ask before starting paid jobs.")
@click.option("--wait/--no-wait", default=False, help="Follow the jobs here until they end.")
@click.option("--interval", default=5.0, type=float, show_default=True, help="Seconds between checks with --wait.")
@click.option("--timeout", default=None, type=float, help="Stop waiting after this many seconds.")
def transcribe_command(file_ids: tuple[int, ...], q: str | None, select_all: bool, force: bool,
                       language: str | None, yes: bool, wait: bool, interval: float, timeout: float | None) -> None:
    """Transcribe the speech of videos (subtitles they have are used first, for free)."""
    body: dict[str, Any] = {"force": force, "language": language}
    if file_ids:
        body["file_ids"] = list(file_ids)
    elif q:
        body["filter"] = {"q": q, "media_type": "video"}
    elif select_all:
        body["all"] = True
    else:
        fail("choose files: --file-id, --q or --all")
    params = call_service(lambda conn: requests.parse_request(conn, body))
    estimate = call_service(lambda conn: requests.estimate(services(), conn, params))
    _print_estimate(estimate)
    if not estimate["to_transcribe"] and not estimate["skipped"].get("subtitles"):
        click.echo("Nothing to transcribe.")
        return
    if estimate["cost_usd"] > 0 and not yes:
        click.confirm(f"Start transcription jobs for about {money(estimate['cost_usd'])}?", abort=True)
    task_id = call_service(lambda conn: services().tasks.enqueue(conn, "transcribe", params))
    task = run_task(task_id, "Transcribing")
    print_summary(task)
    if task["status"] != "SUCCEEDED":
        sys.exit(1)
    if wait:
        outcome = wait_for_jobs(task_id, interval=interval, timeout=timeout)
        for failure in outcome["failed"]:
            click.echo(f"  failed: {failure['job_name']}: {failure['reason']}", err=True)
        if outcome["failed"]:
            sys.exit(1)


def wait_for_jobs(task_id: str, *, interval: float, timeout: float | None) -> dict[str, Any]:
    """Drive the transcription pass here (and the offline stand-in) until the task's jobs have ended."""
    ctx = services()

    def step(conn: sqlite3.Connection) -> tuple[str, bool, dict[str, Any]]:
        process_transcripts_once(conn, ctx, force=True)
        jobs = store.task_jobs(conn, task_id)
        line = (f"jobs: {jobs['completed']} done, {len(jobs['failed'])} failed, {jobs['active']} running; "
                f"cost {money(jobs['cost_usd'])}")
        return line, not jobs["active"], jobs

    return follow(step, worker=ctx.transcriber, interval=interval, timeout=timeout,
                  still=lambda _jobs: "Still running; the server's poller will finish them.")


@click.command("transcript")
@with_appcontext
@click.argument("file_id", type=int)
@click.option("--format", "fmt", type=click.Choice(sorted(formats.RENDERERS)), default="txt", show_default=True)
def transcript_command(file_id: int, fmt: str) -> None:
    """Print a file's transcript."""
    body, _type, _name = call_service(lambda conn: formats.download(conn, file_id, fmt))
    click.echo(body, nl=False)


def init_app(app: Flask) -> None:
    app.cli.add_command(transcribe_command)
    app.cli.add_command(transcript_command)
