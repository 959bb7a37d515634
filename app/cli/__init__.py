"""Flask CLI commands. They never start background threads: work they start runs in the foreground."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.cli import batch, embeddings, library, transcripts


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the database or apply pending migrations."""
    from app.db import connect, migrate

    conn = connect(current_app.config["SETTINGS"].DATABASE_PATH)
    try:
        applied = migrate(conn)
    finally:
        conn.close()
    click.echo(f"Database ready ({len(applied)} migration(s) applied).")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    library.init_app(app)
    batch.init_app(app)
    transcripts.init_app(app)
    embeddings.init_app(app)
