"""The data layer: connections, transactions, migrations and the per-request connection."""
from __future__ import annotations

import sqlite3

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext

from app.db.connection import connect, transaction
from app.db.migrator import migrate

__all__ = ["connect", "transaction", "migrate", "get_db", "init_app"]


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = connect(current_app.config["SETTINGS"].DATABASE_PATH)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database or apply pending migrations."""
    conn = connect(current_app.config["SETTINGS"].DATABASE_PATH)
    try:
        applied = migrate(conn)
    finally:
        conn.close()
    click.echo(f"Database ready ({len(applied)} migration(s) applied).")


def init_app(app: Flask) -> None:
    """Apply migrations at start-up and register teardown and the init-db command."""
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        migrate(conn)
    finally:
        conn.close()
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
