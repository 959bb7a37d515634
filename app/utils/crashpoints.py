"""Named points where the crash tests kill the process (SIGKILL) to prove recovery.

Inert unless the environment variable APP_CRASHPOINT names the point; production never sets it.
"""
from __future__ import annotations

import os
import signal

ENV = "APP_CRASHPOINT"


def crashpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
