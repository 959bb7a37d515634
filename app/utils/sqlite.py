"""Opening SQLite connections and running transactions: the plumbing every store of the app shares."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

BUSY_TIMEOUT_MS = 30_000
IN_BATCH = 500  # values per IN (...) list, well under SQLite's limit of host parameters

T = TypeVar("T")


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


def in_batches(values: Iterable[T], size: int = IN_BATCH) -> Iterator[tuple[list[T], str]]:
    """The values in slices of at most `size`, each with its `?,?,...` placeholders for an IN (...) list."""
    items = list(values)
    for start in range(0, len(items), size):
        part = items[start:start + size]
        yield part, ",".join("?" * len(part))


def sql_list(values: Iterable[str]) -> str:
    """A list of status constants as SQL text; for the app's own constants only, never for input."""
    return ", ".join(f"'{v}'" for v in values)
