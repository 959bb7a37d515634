"""Commands for analysis submissions: `flask analyze` and `flask batch list|show|cancel|retry-failed`.

Staging and on-demand analysis run here, in the foreground; with --wait this process also drives the batch
pipeline (and the local engine) until the submission is finished, as the server's poller would.
"""
from __future__ import annotations

import json
import sqlite3
import sys
from datetime import datetime
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from app.cli.common import call_service, follow, money, print_summary, run_task, services
from app.services.batch import actions, status, submission
from app.services.batch.process import process_batches_once


def _split_types(values: tuple[str, ...]) -> list[str] | None:
    types = [t.strip() for value in values for t in value.split(",") if t.strip()]
    return types or None


def _eta(eta: dict[str, Any] | None) -> str:
    """'expected 14:05 (13:40-16:20, from 3 earlier jobs of this model)' in local time, or ''."""
    if not eta:
        return ""

    def local(stamp: str) -> str:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")

    return f"expected {local(eta['expected'])} ({local(eta['earliest'])} to {local(eta['latest'])}, {eta['basis']})"


def _print_batch(batch: dict[str, Any]) -> None:
    records = batch["records"]
    click.echo(f"Batch {batch['id']}: {batch['status']}  model={batch['model']}  mode={batch['mode']}  "
               f"types={','.join(batch['analysis_types'])}  created {batch['created_at']}")
    click.echo(f"  files {batch['files_total']}, records {batch['records_total']} (completed {records['completed']}, "
               f"failed {records['failed']}, pending {records['pending']}); cost estimated "
               f"{money(batch['cost']['estimated_usd'])}, actual {money(batch['cost']['actual_usd'])}")
    if batch.get("eta"):
        click.echo(f"  finish {_eta(batch['eta'])}")
    for chunk in batch["chunks"]:
        provider = f" ({chunk['provider_status']})" if chunk["provider_status"] else ""
        click.echo(f"  chunk {chunk['index'] + 1}: {chunk['status']}{provider}  {chunk['job_name']}  "
                   f"records {chunk['records_succeeded'] or 0}/{chunk['records_total']} ok, "
                   f"{chunk['records_failed'] or 0} failed  {chunk['staging_folder']}")
        if chunk["eta"]:
            progress = f"{chunk['progress_percent']}% done, " if chunk["progress_percent"] is not None else ""
            click.echo(f"    {progress}{_eta(chunk['eta'])}")
        if chunk["last_error"]:
            click.echo(f"    last error: {chunk['last_error']}")
    if batch["on_demand"]["files"]:
        click.echo(f"  on demand: {batch['on_demand']['files']} file(s), task {batch['on_demand']['task_id']}")
    failed = [f for f in batch["files"] if f["status"] in ("FAILED", "REJECTED")]
    for item in failed[:20]:
        click.echo(f"  {item['status'].lower()}: {item['name']}: {item['error']}", err=True)
    if len(failed) > 20:
        click.echo(f"  … and {len(failed) - 20} more", err=True)


def _progress_line(batch: dict[str, Any]) -> str:
    chunks = batch["chunks"]
    done = sum(1 for c in chunks if c["status"] in status.CHUNK_TERMINAL)
    records = batch["records"]
    finished = records["completed"] + records["failed"]
    line = (f"[{batch['status']}] chunks {done}/{len(chunks)} terminal, records {finished}/{batch['records_total']} "
            f"(failed {records['failed']}), cost so far {money(batch['cost']['actual_usd'])}")
    return f"{line}; {_eta(batch['eta'])}" if batch.get("eta") else line


def run_submission_tasks(batch: dict[str, Any]) -> None:
    """Stage the submission's chunks and run its on-demand part here, with progress bars."""
    for task_id, label in ((batch["stage_task_id"], "Staging"), (batch["on_demand"]["task_id"], "On demand")):
        if task_id:
            print_summary(run_task(task_id, label))


def wait_for_batch(batch_id: int, *, interval: float, timeout: float | None) -> dict[str, Any]:
    """Drive the pipeline here until the submission is terminal; print progress."""
    ctx = services()

    def step(conn: sqlite3.Connection) -> tuple[str, bool, dict[str, Any]]:
        process_batches_once(conn, ctx, force=True)
        for task_id in status.queued_merges(conn, batch_id):  # segmented runs: merged here, not by a server
            ctx.tasks.run_in_foreground(conn, task_id)
        batch = status.batch_to_dict(conn, batch_id)
        return _progress_line(batch), batch["status"] in status.BATCH_TERMINAL, batch

    return follow(step, worker=ctx.backend, interval=interval, timeout=timeout,
                  still=lambda batch: f"Still {batch['status']} after {timeout:.0f} s; the poller will finish it.")


@click.command("analyze")
@with_appcontext
@click.option("--q", default=None, help="Substring of name or path.")
@click.option("--media-type", type=click.Choice(["video", "image"]), default=None)
@click.option("--directory", default=None, help="Absolute folder (recursive by default).")
@click.option("--recursive/--no-recursive", default=True)
@click.option("--analysis", "analysis_state", type=click.Choice(["none", "pending", "completed", "failed"]),
              default=None, help="Only files in this analysis state.")
@click.option("--file-id", "file_ids", type=int, multiple=True, help="A file id (repeatable); overrides filters.")
@click.option("--model", default=None, help="Model key (default for the configured backend).")
@click.option("--types", "types", multiple=True, help="Analysis types, comma-separated (default combined).")
@click.option("--mode", type=click.Choice(["auto", "batch", "on_demand"]), default="auto")
@click.option("--depth", type=click.Choice(["brief", "standard", "detailed"]), default=None)
@click.option("--language", default=None)
@click.option("--wait", is_flag=True, help="Follow the submission until every part is finished.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between checks with --wait.")
@click.option("--timeout", type=float, default=None, help="Give up waiting after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the submission as JSON.")
def analyze_command(q, media_type, directory, recursive, analysis_state, file_ids, model, types, mode, depth,
                    language, wait, interval, timeout, as_json) -> None:
    """Submit files for analysis exactly like POST /api/batch/nova."""
    body: dict[str, Any] = {"model": model, "analysis_types": _split_types(types), "mode": mode}
    if file_ids:
        body["file_ids"] = list(file_ids)
    else:
        body["filter"] = {k: v for k, v in {"q": q, "media_type": media_type, "directory": directory,
                                            "recursive": recursive, "analysis": analysis_state}.items()
                          if v is not None}
    options = {k: v for k, v in {"summary_depth": depth, "language": language}.items() if v}
    if options:
        body["options"] = options
    batch = call_service(lambda conn: submission.create_submission(conn, services(), body))
    if as_json and not wait:
        click.echo(json.dumps(batch, indent=2))
        return
    plan = batch["plan"]
    estimate = batch["estimate"]
    click.echo(f"Submitted batch {batch['id']}: {len(batch['chunks'])} batch job(s) for {plan['batch_files']} file(s) "
               f"({money(estimate['batch']['cost_usd'])}), {plan['on_demand_files']} file(s) on demand "
               f"({money(estimate['on_demand']['cost_usd'])}), {plan['rejected_files']} rejected.")
    for reason in plan["reasons"]:
        click.echo(f"  {reason}")
    for rejected in plan["rejected"][:20]:
        click.echo(f"  rejected: {rejected['name']}: {rejected['reason']}", err=True)
    run_submission_tasks(batch)
    if not wait:
        if batch["chunks"]:
            click.echo("The server's batch poller submits the batch jobs and stores their results "
                       "(or run again with --wait to do it here).")
        return
    final = wait_for_batch(batch["id"], interval=interval, timeout=timeout)
    if as_json:
        click.echo(json.dumps(final, indent=2))
    else:
        _print_batch(final)
    if final["status"] != "COMPLETED":
        sys.exit(1)


batch_group = AppGroup("batch", help="Analysis submissions and their batch jobs.")


@batch_group.command("list")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def batch_list_command(limit: int, as_json: bool) -> None:
    """List submissions, newest first."""
    result = call_service(lambda conn: status.list_batches(conn, limit=limit))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for item in result["items"]:
        click.echo(f"{item['id']:>5}  {item['status']:<9}  {item['model']:<14}  {item['mode']:<9}  "
                   f"files {item['files_total']:>5}  chunks {item['chunks_done']}/{item['chunks_total']}  "
                   f"runs ok {item['runs_completed']} failed {item['runs_failed']}  {item['created_at']}")
        if item["eta"]:
            click.echo(f"       {_eta(item['eta'])}")
    click.echo(f"{result['total']} submission(s)")


@batch_group.command("show")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def batch_show_command(batch_id: int, as_json: bool) -> None:
    """Show one submission with its chunks and failed files."""
    batch = call_service(lambda conn: status.batch_to_dict(conn, batch_id))
    if as_json:
        click.echo(json.dumps(batch, indent=2))
    else:
        _print_batch(batch)


@batch_group.command("cancel")
@click.argument("batch_id", type=int)
def batch_cancel_command(batch_id: int) -> None:
    """Stop running batch jobs and cancel what has not started; produced results are still stored."""
    batch = call_service(lambda conn: actions.cancel_batch(conn, services(), batch_id))
    _print_batch(batch)


@batch_group.command("retry-failed")
@click.argument("batch_id", type=int)
@click.option("--wait", is_flag=True, help="Follow the new submission until it is finished.")
@click.option("--interval", type=float, default=5.0, show_default=True)
def batch_retry_command(batch_id: int, wait: bool, interval: float) -> None:
    """Submit again only the records of a submission that failed or never came back."""
    batch = call_service(lambda conn: actions.retry_failed(conn, services(), batch_id))
    click.echo(f"Submitted batch {batch['id']} retrying {batch['records_total']} record(s) of batch {batch_id}.")
    run_submission_tasks(batch)
    if wait:
        final = wait_for_batch(batch["id"], interval=interval, timeout=None)
        _print_batch(final)
        if final["status"] != "COMPLETED":
            sys.exit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(analyze_command)
    app.cli.add_command(batch_group)
