"""The one clock: UTC datetimes in code, fixed-precision ISO-8601 text in the database.

Stored times always carry microseconds, so two stamps compare correctly as text. Background workers take
`now` once per step (`run_once(now)`) and pass it down; everything below uses that value, so a test that
injects a time gets it honoured throughout.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc(value: datetime | None = None) -> datetime:
    """value as an aware UTC datetime (a naive one counts as UTC), or the current time."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def iso(value: datetime | None = None) -> str:
    """The stored form of a time (the current time when None), e.g. '2026-11-25T15:30:00.123456+00:00'."""
    return utc(value).isoformat(timespec="microseconds")


def parse_iso(value: str | None) -> datetime | None:
    """A stored time back as an aware UTC datetime; None for None or ''."""
    if not value:
        return None
    return utc(datetime.fromisoformat(value))


def later(now: datetime, seconds: float) -> str:
    """The stored form of `seconds` after now."""
    return iso(utc(now) + timedelta(seconds=seconds))


class Clock:
    """The time of one step of work: `start` (injected, or the wall clock) when it began, advancing with the
    monotonic clock, so long steps renew leases from the time they were given, never from a second clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = utc(start)
        self._began = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)
