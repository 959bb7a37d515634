"""SQL for wake-up counters (table wakeups): how one process tells another's background engine there is work."""
from __future__ import annotations

import sqlite3


def bump(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT INTO wakeups (name, counter) VALUES (?, 1)"
                 " ON CONFLICT (name) DO UPDATE SET counter = counter + 1", (name,))


def counters(conn: sqlite3.Connection, names: tuple[str, ...]) -> dict[str, int]:
    """{name: counter} for these names (0 for a name never bumped)."""
    marks = ", ".join("?" * len(names))
    found = dict(conn.execute(f"SELECT name, counter FROM wakeups WHERE name IN ({marks})", names).fetchall())
    return {name: found.get(name, 0) for name in names}
