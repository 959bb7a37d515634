"""Numbered migrations: recorded, atomic, and a fresh database equals an upgraded one."""
from __future__ import annotations

import sqlite3

import pytest

from app.db import migrator as migrate_module
from app.db import connect, transaction
from app.db.migrator import available_migrations, migrate


def _schema(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
    ).fetchall()


def test_fresh_database_gets_every_migration_recorded(tmp_path):
    conn = connect(tmp_path / "fresh.db")
    applied = migrate(conn)
    assert applied == [v for v, _, _ in available_migrations()]
    recorded = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert recorded == applied
    assert migrate(conn) == []  # idempotent


def test_upgraded_database_matches_a_fresh_one(tmp_path):
    versions = [v for v, _, _ in available_migrations()]
    fresh = connect(tmp_path / "fresh.db")
    migrate(fresh)
    upgraded = connect(tmp_path / "old.db")
    migrate(upgraded, target=versions[0])
    upgraded.execute(
        "INSERT INTO files (path, folder, name, size_bytes, mtime, fingerprint, media_type, imported_at, updated_at)"
        " VALUES ('/a/b.mp4', '/a', 'b.mp4', 1, 0, 'x', 'video', 'now', 'now')"
    )
    migrate(upgraded)
    assert _schema(upgraded) == _schema(fresh)
    assert upgraded.execute("SELECT name FROM files").fetchone()[0] == "b.mp4"


def test_a_failing_migration_is_rolled_back_whole(tmp_path, monkeypatch):
    good = available_migrations()
    bad_version = good[-1][0] + 1
    bad = (bad_version, "broken", "CREATE TABLE half_done (id INTEGER);\nTHIS IS NOT SQL;")
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: [*good, bad])
    conn = connect(tmp_path / "db.sqlite")
    with pytest.raises(sqlite3.Error):
        migrate(conn)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    assert "files" in tables  # earlier migrations stay applied
    assert bad_version not in {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def test_connections_use_wal_foreign_keys_and_rows(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert isinstance(conn.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)


def test_transaction_rolls_back_every_row_on_error(tmp_path):
    conn = connect(tmp_path / "db.sqlite")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (3)")
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1


def test_init_db_command_creates_the_database(runner, app):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(available_migrations())
