"""Browser tests: the real app served by waitress (as run.py serves it) on a free local port, driven by Playwright
with Debian's Chromium. The port is bound before the app is made, so the app's PORT (and with it the Hosts it
answers) is the port the browser uses."""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright import sync_api

import run
from app import create_app
from tests.browser.support import DEFAULT_TIMEOUT_MS, wait_until
from tests.conftest import REPO_ROOT, SAMPLE_IMAGES, SAMPLE_MEDIA, SAMPLE_VIDEOS

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser-deps` (part of `make test`) installs it")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@dataclass
class LiveServer:
    url: str
    app: object
    library: Path

    def drive_batches(self) -> None:
        """One pass of the batch pipeline (the poller's job), as the background driver does."""
        _drive_once(self.app)


def _drive_once(app) -> None:
    poller = app.extensions.get("batch_poller")
    if poller is not None:
        poller.run_once(force=True)
        return
    try:
        from app.services.batch.process import process_batches_once
    except ImportError:
        return
    from app.db import connect

    conn = connect(app.config["SETTINGS"].DATABASE_PATH)
    try:
        process_batches_once(conn, app.extensions["services"], force=True)
    finally:
        conn.close()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _serve(app_config: dict, library: Path, *, run_batches: bool):
    sock = _free_socket()
    port = sock.getsockname()[1]
    app = create_app({**app_config, "PORT": port})
    app.extensions["services"].tasks.start()
    server = run.build_server(app, sockets=[sock])
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    backend = app.extensions["services"].backend
    stop = threading.Event()
    driver = None
    if run_batches:
        # What start_background starts in the server: the local engine's worker and the batch poller's loop.
        backend.start()

        def loop():
            while not stop.wait(0.5):
                try:
                    _drive_once(app)
                except Exception:  # the next pass retries; a test fails on what the page shows
                    pass

        driver = threading.Thread(target=loop, name="batch-driver", daemon=True)
        driver.start()
    live = LiveServer(url=f"http://127.0.0.1:{port}", app=app, library=library)
    try:
        yield live
    finally:
        stop.set()
        if driver is not None:
            driver.join(timeout=30)
        backend.stop(timeout=30)
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=10)
        app.extensions["services"].tasks.stop(timeout=30)


def _library(tmp_path: Path) -> Path:
    folder = tmp_path / "library" / "samples"
    folder.mkdir(parents=True)
    for name in SAMPLE_VIDEOS + SAMPLE_IMAGES:
        shutil.copy2(SAMPLE_MEDIA / name, folder / name)
    return folder


def _config(tmp_path: Path, **extra) -> dict:
    data = tmp_path / "data"
    data.mkdir()
    return {"DATA_DIR": str(data), "LIBRARY_ROOTS": (tmp_path / "library", data), "PROXY_WORKERS": 2,
            "BATCH_POLLER_ENABLED": False, "LOG_LEVEL": "warning", **extra}


@pytest.fixture
def live_server(tmp_path):
    """The app with the sample media in a library folder; batch jobs are processed in the background."""
    library = _library(tmp_path)
    yield from _serve(_config(tmp_path), library, run_batches=True)


@pytest.fixture
def quiet_server(tmp_path):
    """The app with the sample media; batches move only when the test drives them."""
    library = _library(tmp_path)
    yield from _serve(_config(tmp_path), library, run_batches=False)


TOKEN = "browser-test-token"


@pytest.fixture
def token_server(tmp_path):
    """The app with API_TOKEN set: every page and API request needs the token or the sign-in cookie."""
    library = _library(tmp_path)
    yield from _serve(_config(tmp_path, API_TOKEN=TOKEN), library, run_batches=False)


class Shots:
    """Saves full-page screenshots under test-output/screenshots/<test name>/ (gitignored)."""

    def __init__(self, page, folder: Path):
        self.page = page
        self.folder = folder
        self.count = 0

    def __call__(self, name: str, *, full_page: bool = True) -> Path:
        """Whole page by default; the viewport only for dialogs (their backdrop covers just the viewport)."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


# Reports each Content-Security-Policy violation (what the policy blocked) to the console, where the page fixture
# records it; init scripts run outside the page's CSP.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile || e.documentURI}`));
"""


def _record_console(tab, message) -> None:
    text = message.text
    if "CSP violation" in text or "Content Security Policy" in text:
        tab.problems.append(f"CSP: {text}")


@pytest.fixture
def page(browser, request):
    """A fresh 1280x800 page that records page errors, Content-Security-Policy violations and any dialog (none
    should open)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    tab = context.new_page()
    tab.set_default_timeout(DEFAULT_TIMEOUT_MS)
    # Playwright's wait_for_function needs 'unsafe-eval', which the app's policy refuses (support.wait_until).
    tab.wait_for_function = lambda expression, arg=None, **options: wait_until(tab, expression, arg, **options)
    tab.problems = []
    tab.dialogs = []
    tab.on("pageerror", lambda exc: tab.problems.append(f"page error: {exc}"))
    tab.on("console", lambda message: _record_console(tab, message))
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


@pytest.fixture
def shots(page, request):
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Shots(page, folder)
