"""Numbered schema migrations, recorded in `schema_migrations` and applied atomically."""
from __future__ import annotations

import logging
import re
import sqlite3
from datetime import datetime, timezone
from importlib import resources

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in app/db/migrations, in order."""
    found = []
    for entry in resources.files("app.db.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {versions}")
    return found


def applied_versions(conn: sqlite3.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> list[int]:
    """Apply every pending migration up to `target`; return the versions applied."""
    done = applied_versions(conn)
    applied = []
    for version, name, sql in available_migrations():
        if version in done or (target is not None and version > target):
            continue
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # executescript commits any open transaction first, so BEGIN/COMMIT are inside the script
        # and a failure is rolled back by hand: a migration is applied whole or not at all.
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n;"
            f"INSERT INTO schema_migrations(version, name, applied_at) VALUES ({version}, '{name}', '{stamp}');\n"
            "COMMIT;"
        )
        try:
            conn.executescript(script)
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("migration %04d_%s failed; rolled back", version, name)
            raise
        log.info("applied migration %04d_%s", version, name)
        applied.append(version)
    return applied
