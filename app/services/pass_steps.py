"""One pass of a provider pipeline (the poller's batch and transcripts passes): named steps run in order; a
step that raises is logged and recorded in the outcome's "errors", and the later steps still run."""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

# "due": ask the provider about what was not checked for its interval; "all": about everything running (the
# provider said a job changed); "none": do not ask (a wake-up for local work).
STATUS_CHECKS = ("due", "all", "none")


def check_status_checks(status_checks: str) -> None:
    if status_checks not in STATUS_CHECKS:
        raise ValueError(f"status_checks must be one of {STATUS_CHECKS}")


def run_steps(steps: Sequence[tuple[str, Callable[[], Any]]], *, pipeline: str, prefix: str = "") -> dict[str, Any]:
    """{step name: what it returned, "errors": [prefix + "name: error"]}."""
    outcome: dict[str, Any] = {"errors": []}
    for name, step in steps:
        try:
            outcome[name] = step()
        except Exception as exc:
            log.exception("%s pipeline step %s failed", pipeline, name)
            outcome["errors"].append(f"{prefix}{name}: {exc}")
    return outcome
