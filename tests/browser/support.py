"""Helpers for browser tests: setting up state through the JSON API (the UI paths have their own tests), and
waiting for a condition in a page under the app's Content-Security-Policy."""
from __future__ import annotations

import json
import re
import time

DEFAULT_TIMEOUT_MS = 20_000
_FUNCTION = re.compile(r"\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)")


def wait_until(page, expression: str, arg=None, *, timeout: float | None = None, polling=None) -> None:
    """page.wait_for_function that works under the app's Content-Security-Policy.

    Playwright's own evaluates a string predicate with eval() inside the page, which a policy without
    'unsafe-eval' blocks. Here the predicate is part of the function page.evaluate sends, which the
    DevTools protocol compiles outside the page's policy. `expression` is an expression or a function of `arg`;
    `polling` is accepted for the same signature and ignored (every 50 ms).
    """
    check = f"({expression})(arg)" if _FUNCTION.match(expression) else f"({expression})"
    limit = DEFAULT_TIMEOUT_MS if timeout is None else timeout
    page.evaluate(f"""async (arg) => {{
        const deadline = Date.now() + {float(limit)};
        while (!({check})) {{
            if (Date.now() > deadline) throw new Error("timed out waiting for " + {json.dumps(expression)});
            await new Promise((resolve) => setTimeout(resolve, 50));
        }}
    }}""", arg)


def wait_job(page, base: str, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = page.request.get(f"{base}/api/tasks/{job_id}").json()
        if job["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def post_json(page, url: str, body: dict) -> dict:
    response = page.request.post(url, data=body)  # Playwright sends a dict as JSON
    assert response.ok, (url, response.status, response.text())
    return response.json()


def import_via_api(page, base: str, folder) -> dict:
    job = post_json(page, f"{base}/api/files/import-directory", {"path": str(folder), "recursive": True})
    done = wait_job(page, base, job["task_id"])
    assert done["status"] == "SUCCEEDED", done
    if done["result"].get("proxies_task_id"):
        assert wait_job(page, base, done["result"]["proxies_task_id"])["status"] == "SUCCEEDED"
    return done
