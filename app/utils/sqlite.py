"""Opening SQLite connections and running transactions: the plumbing every store of the app shares."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path | str) -> sqlite3.Connection:
    """Open a connection with WAL, foreign keys, a busy timeout and Row results.

    The connection is in autocommit mode: single statements commit at once and multi-row writes use
    `transaction()`, so nothing is left half-written. The thread that opens a connection owns it.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN (IMMEDIATE by default, to take the write lock up front), COMMIT or ROLLBACK."""
    if conn.in_transaction:
        # Nested use joins the outer transaction: the outer owner commits.
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
