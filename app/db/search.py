"""SQL for the full-text search index (FTS5 table `search_index`, queue `search_dirty`)."""
from __future__ import annotations

import sqlite3
from typing import Any, Iterable

ROWS_PER_FILE = 4096  # a file's rows have rowids file_id * 4096 + n (see migration 0005)

# Highlight markers for snippet(); the indexer strips them from the text it stores.
MARK_START = "\x01"
MARK_END = "\x02"

# bm25 scores are negative (lower is better); a hit in a short, specific field counts for more.
FIELD_BOOST = {"name": 2.0, "chapter": 1.5, "summary": 1.3, "keyword": 1.3, "description": 1.3}


def dirty_file_ids(conn: sqlite3.Connection, limit: int) -> list[int]:
    return [row[0] for row in conn.execute("SELECT file_id FROM search_dirty ORDER BY file_id LIMIT ?", (limit,))]


def count_dirty(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM search_dirty").fetchone()[0]


def clear_dirty(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    conn.executemany("DELETE FROM search_dirty WHERE file_id = ?", [(i,) for i in file_ids])


def mark_dirty(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    conn.executemany("INSERT OR IGNORE INTO search_dirty (file_id) VALUES (?)", [(i,) for i in file_ids])


def mark_all_dirty(conn: sqlite3.Connection) -> None:
    """Queue every file for indexing."""
    conn.execute("INSERT OR IGNORE INTO search_dirty (file_id) SELECT id FROM files")


def delete_file_rows(conn: sqlite3.Connection, file_id: int) -> None:
    low = file_id * ROWS_PER_FILE
    conn.execute("DELETE FROM search_index WHERE rowid BETWEEN ? AND ?", (low, low + ROWS_PER_FILE - 1))


def insert_file_rows(conn: sqlite3.Connection, file_id: int, rows: list[tuple[str, float | None, str]]) -> None:
    """rows: (field, start_seconds, text); at most ROWS_PER_FILE are kept."""
    base = file_id * ROWS_PER_FILE
    conn.executemany(
        "INSERT INTO search_index (rowid, file_id, field, start_seconds, text) VALUES (?, ?, ?, ?, ?)",
        [(base + n, file_id, field, start, text) for n, (field, start, text) in enumerate(rows[:ROWS_PER_FILE])],
    )


def latest_completed_run_id(conn: sqlite3.Connection, file_id: int) -> int | None:
    row = conn.execute(
        "SELECT id FROM analysis_runs WHERE file_id = ? AND status IN ('COMPLETED', 'PARTIAL')"
        " ORDER BY id DESC LIMIT 1",
        (file_id,),
    ).fetchone()
    return row[0] if row else None


def file_name_and_folder(conn: sqlite3.Connection, file_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT id, name, folder, media_type FROM files WHERE id = ?", (file_id,)).fetchone()


def _boost_sql() -> str:
    cases = " ".join(f"WHEN '{field}' THEN {boost}" for field, boost in FIELD_BOOST.items())
    return f"(CASE field {cases} ELSE 1.0 END)"


def _file_filter(all_terms: list[str], media_type: str | None) -> tuple[str, list[Any]]:
    """SQL selecting the files that contain every term somewhere (in any of their fields)."""
    parts = ["SELECT DISTINCT file_id FROM search_index WHERE search_index MATCH ?" for _ in all_terms]
    sql = " INTERSECT ".join(parts)
    params: list[Any] = list(all_terms)
    if media_type:
        sql = f"SELECT id FROM files WHERE media_type = ? AND id IN ({sql})"
        params = [media_type, *params]
    return sql, params


def count_matching_files(conn: sqlite3.Connection, all_terms: list[str], media_type: str | None) -> int:
    sql, params = _file_filter(all_terms, media_type)
    return conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]


def rank_files(conn: sqlite3.Connection, any_query: str, all_terms: list[str], media_type: str | None,
               limit: int, offset: int) -> list[sqlite3.Row]:
    """(file_id, score) best first: files holding every term, ranked by their best-matching row."""
    files_sql, params = _file_filter(all_terms, media_type)
    # bm25() only works in the FTS query itself, so score rows in a materialized CTE, then group.
    sql = (
        f"WITH hits AS MATERIALIZED (SELECT file_id, bm25(search_index) * {_boost_sql()} AS score"
        f" FROM search_index WHERE search_index MATCH ? AND file_id IN ({files_sql}))"
        " SELECT file_id, MIN(score) AS score FROM hits"
        " GROUP BY file_id ORDER BY score, file_id LIMIT ? OFFSET ?"
    )
    return conn.execute(sql, [any_query, *params, limit, offset]).fetchall()


def file_hits(conn: sqlite3.Connection, any_query: str, file_ids: list[int], tokens: int) -> list[sqlite3.Row]:
    """Every matching row of these files, best first, with a marked-up snippet of its text."""
    if not file_ids:
        return []
    marks = ",".join("?" * len(file_ids))
    sql = (
        "SELECT file_id, field, start_seconds,"
        f" snippet(search_index, 3, ?, ?, '…', ?) AS snippet, bm25(search_index) * {_boost_sql()} AS score"
        f" FROM search_index WHERE search_index MATCH ? AND file_id IN ({marks})"
        " ORDER BY score"
    )
    return conn.execute(sql, [MARK_START, MARK_END, tokens, any_query, *file_ids]).fetchall()


def files_by_id(conn: sqlite3.Connection, file_ids: list[int]) -> dict[int, sqlite3.Row]:
    if not file_ids:
        return {}
    marks = ",".join("?" * len(file_ids))
    rows = conn.execute(
        "SELECT f.id, f.name, f.folder, f.media_type, f.duration_seconds, f.analysis_status,"
        " t.path AS thumbnail_path FROM files f"
        " LEFT JOIN derivatives t ON t.file_id = f.id AND t.kind = 'thumbnail'"
        f" WHERE f.id IN ({marks})",
        file_ids,
    ).fetchall()
    return {row["id"]: row for row in rows}
