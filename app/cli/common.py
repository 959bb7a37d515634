"""What the commands share: the services context, service calls with clean errors, tasks with a progress bar,
and following a provider's jobs here until they end (what the server's poller does)."""
from __future__ import annotations

import sqlite3
import sys
import time
from typing import Any, Callable, NoReturn, TypeVar

import click
from flask import current_app

from app.db import connect
from app.errors import AppError
from app.services import tasks
from app.services.context import Services
from app.utils.background import BackgroundWorker

T = TypeVar("T")


def services() -> Services:
    return current_app.extensions["services"]


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def call_service(work: Callable[[sqlite3.Connection], T]) -> T:
    """work(conn) on a connection of its own; an AppError ends the command with its message (exit 1)."""
    conn = connect(services().settings.DATABASE_PATH)
    try:
        return work(conn)
    except AppError as exc:
        fail(exc.message)
    finally:
        conn.close()


def money(value: float | None) -> str:
    return f"${(value or 0):.4f}"


def follow(step: Callable[[sqlite3.Connection], tuple[str, bool, T]], *, worker: object, interval: float,
           timeout: float | None, still: Callable[[T], str]) -> T:
    """Drive a provider's jobs here until `step(conn)` -> (progress line, done, value) says done: each round
    the offline `worker` (local engine or stand-in) runs its jobs when no thread of this process does, then
    the step; a changed line is printed. After `timeout` seconds the value as it is, with still(value)."""
    conn = connect(services().settings.DATABASE_PATH)
    deadline = time.monotonic() + timeout if timeout else None
    last = ""
    try:
        while True:
            if isinstance(worker, BackgroundWorker) and not worker.running:
                worker.run_once()
            line, done, value = step(conn)
            if line != last:
                click.echo(line)
                last = line
            if done:
                return value
            if deadline is not None and time.monotonic() > deadline:
                click.echo(still(value), err=True)
                return value
            time.sleep(interval)
    finally:
        conn.close()


def run_task(task_id: str, label: str) -> dict[str, Any]:
    """Run a recorded task here with a progress bar; Ctrl-C cancels it. The task's API shape."""
    runner = services().tasks
    conn = connect(services().settings.DATABASE_PATH)
    bar: Any = None
    shown = 0

    def progress(ctx: tasks.TaskContext) -> None:
        nonlocal bar, shown
        if ctx.total is not None and bar is None:
            bar = click.progressbar(length=max(ctx.total, 1), label=label, show_pos=True)
            bar.__enter__()
        if bar is not None and ctx.done > shown:
            bar.update(ctx.done - shown)
            shown = ctx.done

    try:
        try:
            runner.run_in_foreground(conn, task_id, on_flush=progress)
        except KeyboardInterrupt:
            click.echo("\nCancelled.", err=True)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        return tasks.get_task(conn, task_id)
    finally:
        conn.close()


def run_chain(kind: str, params: dict[str, Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Record a task and run it, then the tasks it leads to, here; stops at the first that does not succeed."""
    runner = services().tasks
    pending = [(kind, params)]
    done: list[dict[str, Any]] = []
    while pending:
        next_kind, next_params = pending.pop(0)
        task_id = call_service(lambda conn: runner.enqueue(conn, next_kind, next_params))
        task = run_task(task_id, labels.get(next_kind, next_kind))
        print_summary(task)
        done.append(task)
        if task["status"] != "SUCCEEDED":
            break
        pending.extend(runner.follow_ups(next_kind, next_params, task["result"] or {}))
    return done


def print_summary(task: dict[str, Any]) -> None:
    counters = {k: v for k, v in task["counters"].items() if not k.startswith("_")}
    click.echo(f"{task['kind']} {task['status'].lower()}: "
               + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
    for failure in task["failed"][:20]:
        click.echo(f"  failed: {failure['item']}: {failure['reason']}", err=True)
    if task["error"]:
        click.echo(f"  error: {task['error']}", err=True)
