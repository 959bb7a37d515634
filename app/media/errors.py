"""Exceptions raised by the media layer."""
from __future__ import annotations


class MediaError(Exception):
    """A file that cannot be probed, decoded or converted; `reason` is fit to show a user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProxyCancelled(Exception):
    """Proxy generation stopped because the caller asked it to; no output was left behind."""
