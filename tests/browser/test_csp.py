"""The Content-Security-Policy in a real browser: every page works under it with nothing blocked, and no page can
be framed by another site."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.browser.support import import_via_api, post_json, wait_job


def _assert_framing_headers(response, path: str) -> None:
    assert response is not None and response.ok, path
    headers = response.headers  # lower-case names, for page and API responses alike
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
    assert headers.get("x-frame-options") == "DENY", path


def _analysed(page, base: str, library) -> tuple[int, int, int]:
    """Imports the samples and analyses every file on demand: (a video id, an image id, the batch id)."""
    import_via_api(page, base, library)
    files = page.request.get(f"{base}/api/files?per_page=50").json()["items"]
    video = next(f["id"] for f in files if f["name"] == "bottle-detection.mp4")
    image = next(f["id"] for f in files if f["media_type"] == "image")
    batch = post_json(page, f"{base}/api/batch/nova", {"file_ids": [video, image], "analysis_types": ["combined"],
                                                     "mode": "on_demand"})
    assert wait_job(page, base, batch["on_demand"]["task_id"])["status"] == "SUCCEEDED"
    return video, image, batch["id"]


def test_every_page_runs_under_the_policy_with_nothing_blocked(quiet_server, page, shots):
    base = quiet_server.url
    video, image, batch_id = _analysed(page, base, quiet_server.library)
    quiet_server.drive_batches()
    visits = [("/files", "#file-rows tr"), (f"/files/{video}", "#timeline .timeline-seg"),
              (f"/files/{image}", "#summary-text, #results"), ("/batches", "#batch-table tbody tr"),
              (f"/batches/{batch_id}", "#file-outcomes tbody tr"), ("/search?q=bottle", ".search-result"),
              ("/reports", "#metrics .metric-card")]
    for path, ready in visits:
        response = page.goto(base + path)
        _assert_framing_headers(response, path)
        page.locator(ready).first.wait_for()
        page.wait_for_load_state("networkidle")
        shots(path.strip("/").replace("/", "-").replace("?", "-") or "root")
        assert page.problems == [], (path, page.problems)
    # The reports chart drew (Chart.js styles its canvas through the CSSOM, which the policy allows).
    assert page.evaluate("document.querySelector('#usage-chart').width") > 0

    # Bootstrap's collapse and modal set styles from script too; the dialog's icons are data: SVGs in its CSS.
    page.goto(f"{base}/files")
    page.locator("#file-rows tr").first.wait_for()
    page.click("[data-bs-target='#import-panel']")
    page.check("#select-page")
    page.click("#action-analyze")
    page.locator("#estimate-cards").wait_for()
    page.wait_for_load_state("networkidle")
    shots("analyze-dialog", full_page=False)
    assert page.problems == [] and page.dialogs == []


def test_the_violation_listener_does_report_a_blocked_inline_style(quiet_server, page):
    # The test above passes only if violations are seen: show that one is.
    page.goto(f"{quiet_server.url}/files")
    page.locator("#summary").wait_for()
    with page.expect_console_message(lambda message: "CSP violation" in message.text):
        directive = page.evaluate("""() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), { once: true });
            const box = document.createElement("div");
            box.setAttribute("style", "color: red");
            document.body.append(box);
        })""")
    assert directive.startswith("style-src")
    assert any("style-src" in problem for problem in page.problems), page.problems


@contextmanager
def _framer_site(html: str):
    """Another site on this machine (its own port): serves one page, `html`, at /."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _unframed(route):
    """The app's page with its anti-framing headers removed: the control, which a frame does show."""
    response = route.fetch(url=route.request.url.replace("/unframed", "/files"))
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in {"content-security-policy", "x-frame-options"}}
    route.fulfill(response=response, headers=headers)


def test_pages_cannot_be_framed_by_another_site(quiet_server, page):
    base = quiet_server.url
    for path in ("/files", "/signin", "/api/files", "/static/css/app.css"):
        _assert_framing_headers(page.request.get(base + path), path)
    page.route(f"{base}/unframed", _unframed)
    html = (f'<!doctype html><title>framer</title><iframe name="victim" src="{base}/files"></iframe>'
            f'<iframe name="control" src="{base}/unframed"></iframe>')
    with _framer_site(html) as framer:
        page.goto(framer)
        page.wait_for_load_state("load")  # after the frames' own load events
        victim, control = page.frame(name="victim"), page.frame(name="control")
        control.locator("#main").wait_for()  # the same page without the headers is shown...
        assert victim.url.startswith("chrome-error://")  # ...with them the browser refuses to show it
        assert victim.evaluate("document.querySelector('#main')") is None
