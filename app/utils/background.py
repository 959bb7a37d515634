"""The one shape of every background engine: a daemon thread around a public `run_once(now)` step.

The loop runs a step whenever something wakes it (work the app itself started or finished: wake(reason))
and at least every `interval` seconds (for asking remote services). An engine that also takes wake-ups from
other processes sets `tick` and reports them from pending(), which the loop asks every `tick` seconds.
Engines that run items in parallel start them with `spawn`, at most `slots` at a time; stop() joins the
loop and every item thread. A worker that was not started runs its items in the caller's thread, so tests
(and the CLI) drive run_once directly, without threads or sleeps, and it returns when the work is done.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable

log = logging.getLogger(__name__)


class BackgroundWorker:
    """start()/stop() a named daemon thread that calls run_once() when woken or every `interval` seconds."""

    def __init__(self, *, name: str, interval: float, slots: int = 0, tick: float | None = None) -> None:
        self.thread_name = name
        self.interval = interval
        self.slots = slots
        self.tick = tick
        self._reasons: set[str] = set()
        self.stopping = threading.Event()  # set by stop(): items end at their next boundary
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._items: dict[object, threading.Thread] = {}

    def run_once(self, now: datetime | None = None) -> Any:
        """One step of the engine; subclasses implement it."""
        raise NotImplementedError

    def step(self, reasons: set[str], timed: bool) -> None:
        """What the loop runs when woken (`reasons`) or when the interval is up (`timed`): one run_once."""
        self.run_once()

    def pending(self) -> set[str]:
        """Wake-ups left by other processes (asked every `tick` seconds); none by default."""
        return set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start the loop thread; False when it runs already."""
        with self._lock:
            if self.running:
                return False
            self.stopping.clear()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the loop and wait for item threads (they, and items run in a caller's thread, stop between
        items); False when no thread was running. Until start(), run_once does nothing."""
        self.stopping.set()
        self._wake.set()
        with self._lock:
            thread, self._thread = self._thread, None
            items = list(self._items.values())
        if thread is None and not items:
            return False
        deadline = time.monotonic() + timeout
        for t in ([thread] if thread is not None else []) + items:
            if t is threading.current_thread():
                continue
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                log.warning("%s: thread %s did not stop within %.1fs", self.thread_name, t.name, timeout)
        return True

    def wake(self, reason: str = "work") -> None:
        """Run the next step now instead of at the end of the interval."""
        with self._lock:
            self._reasons.add(reason)
        self._wake.set()

    def busy(self) -> set[object]:
        """Keys of the items running in this process."""
        with self._lock:
            for key in [k for k, t in self._items.items() if not t.is_alive()]:
                del self._items[key]
            return set(self._items)

    def free_slots(self) -> int:
        return max(0, self.slots - len(self.busy()))

    def spawn(self, key: object, target: Callable[[], None]) -> None:
        """Run target in an item thread named after key (the loop wakes when it ends: a slot is free); in the
        caller's thread when the worker was not started."""
        if not self.running:
            target()
            return

        def run() -> None:
            try:
                target()
            except Exception:  # an item's fault must not pass silently or kill the engine
                log.exception("%s: item %s failed", self.thread_name, key)
            finally:
                self.wake("slot")

        thread = threading.Thread(target=run, name=f"{self.thread_name}-{key}", daemon=True)
        with self._lock:
            self._items[key] = thread
        thread.start()

    def _loop(self) -> None:
        next_timed = 0.0
        while not self.stopping.is_set():
            self._wake.clear()
            with self._lock:
                reasons, self._reasons = self._reasons, set()
            try:
                if self.tick is not None:
                    reasons |= self.pending()
                timed = time.monotonic() >= next_timed
                if timed:
                    next_timed = time.monotonic() + self.interval
                if timed or reasons:
                    self.step(reasons, timed)
            except Exception:  # the loop must outlive any fault
                log.exception("%s: step failed", self.thread_name)
            wait = next_timed - time.monotonic()
            if self.tick is not None:
                wait = min(wait, self.tick)
            self._wake.wait(max(0.0, wait))
