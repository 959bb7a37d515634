"""Wake-ups: work the app itself starts or finishes wakes whatever waits for it at once.

In this process a signal calls the listeners a background engine registered (its wake()); for engines in
other processes it bumps a counter in the database, which they read every second or so (a cheap SELECT,
no call to any remote service). Topics: "batch" (the batch poller) with reasons "work" (a chunk to submit,
a submission to roll up) and "provider" (the provider finished a job: only the local engine says so).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Callable

from app.db import wakeups as wakeups_db
from app.utils.sqlite import connect

log = logging.getLogger(__name__)

BATCH = "batch"
WORK = "work"
PROVIDER = "provider"


class Signals:
    """notify(topic, reason) wakes this process's listeners now and other processes' engines within a second."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._lock = threading.Lock()

    def listen(self, topic: str, callback: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners.setdefault(topic, []).append(callback)

    def notify(self, topic: str, reason: str = WORK, conn: sqlite3.Connection | None = None) -> None:
        """Record the wake-up for other processes, then wake this one's listeners."""
        try:
            if conn is not None:
                wakeups_db.bump(conn, f"{topic}:{reason}")
            else:
                own = connect(self.db_path)
                try:
                    wakeups_db.bump(own, f"{topic}:{reason}")
                finally:
                    own.close()
        except sqlite3.Error as exc:  # a lost wake-up only delays work until the engine's interval
            log.warning("could not record a %s wake-up: %s", topic, exc)
        with self._lock:
            listeners = list(self._listeners.get(topic, ()))
        for callback in listeners:
            callback(reason)

    def counters(self, conn: sqlite3.Connection, topic: str, reasons: tuple[str, ...]) -> dict[str, int]:
        """The database counters of a topic's reasons: what other processes signalled."""
        names = wakeups_db.counters(conn, tuple(f"{topic}:{reason}" for reason in reasons))
        return {reason: names[f"{topic}:{reason}"] for reason in reasons}
