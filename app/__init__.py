"""The application factory: config -> db -> services -> blueprints; the server starts the background work.

Flask is imported inside the factory, not at the top: importing any module of the package loads this file,
and the data layer, services and the ingestion workers must not pay for (or depend on) the web stack.
"""
from __future__ import annotations

import atexit
import logging
import sys
from typing import TYPE_CHECKING, Any, Mapping

from app.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from flask import Flask

_STARTED: set[str] = set()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; a bad setting stops it with one line naming the variable. Nothing runs in the
    background until start_background(app): the CLI and tests use the app without threads."""
    from flask import Flask

    try:
        settings = _load(test_config)
        app = Flask(__name__)
        app.config["SETTINGS"] = settings
        app.config["TESTING"] = settings.TESTING
        app.config["MAX_CONTENT_LENGTH"] = (settings.MAX_VIDEO_SIZE_MB + 16) * 1024 * 1024
        app.json.sort_keys = False
        _configure_logging(settings)
        _init_services(app, settings)
    except ConfigError as exc:
        _stop_on_config_error(exc, test_config)
    _init_web(app, settings)
    from app import cli

    cli.init_app(app)
    return app


def start_background(app: Flask) -> None:
    """Start the server's background work once per process: the task runner, the local batch engine and the
    local transcriber (when they are the backends) and the batch poller (unless BATCH_POLLER_ENABLED=false)."""
    settings: Settings = app.config["SETTINGS"]
    key = str(settings.DATABASE_PATH)
    if key in _STARTED:
        return
    _STARTED.add(key)
    from app.utils.background import BackgroundWorker

    services = app.extensions["services"]
    workers: list[BackgroundWorker] = [services.tasks]
    if isinstance(services.backend, BackgroundWorker):  # the local engine stands in for Bedrock's fleet
        workers.append(services.backend)
    if isinstance(services.transcriber, BackgroundWorker):  # the offline stand-in for Amazon Transcribe
        workers.append(services.transcriber)
    if settings.BATCH_POLLER_ENABLED:
        workers.append(app.extensions["batch_poller"])
    for worker in workers:
        worker.start()
        atexit.register(worker.stop)


def _stop_on_config_error(exc: ConfigError, test_config: Mapping[str, Any] | None) -> None:
    if test_config is not None:
        raise exc
    print(f"Configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None


def _load(test_config: Mapping[str, Any] | None) -> Settings:
    if test_config is None:
        from dotenv import load_dotenv

        load_dotenv(override=False)
        return load_settings()
    overrides = dict(test_config)
    environ = overrides.pop("ENVIRON", {})
    return load_settings(environ=environ, overrides={"TESTING": True, **overrides})


def _configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.LOG_LEVEL.upper())
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)


def _init_services(app: Flask, settings: Settings) -> None:
    """Migrate the database, build the services context and the poller (not started)."""
    from app.db import connect, migrate
    from app.services.backends import build_services
    from app.services.poller import BatchPoller

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    conn = connect(settings.DATABASE_PATH)
    try:
        migrate(conn)
    finally:
        conn.close()
    try:
        services = build_services(settings)
    except ValueError as exc:  # the prices file is the one setting read only here
        raise ConfigError(f"NOVA_PRICES_FILE: {exc}") from None
    app.extensions["services"] = services
    app.extensions["batch_poller"] = BatchPoller(services)


def _init_web(app: Flask, settings: Settings) -> None:
    """Request class, JSON and URL rules, CORS, error handling, security rules and the blueprints."""
    from flask import redirect, request
    from flask_cors import CORS

    import importlib

    from app.routes import BLUEPRINT_MODULES, _helpers, errors, security
    from app.routes.upload_request import StreamingUploadRequest

    app.request_class = StreamingUploadRequest
    # JSON bodies: at most MAX_JSON_BYTES (the setting when config.py has it), read by the strict parser.
    app.config["MAX_JSON_BYTES"] = settings.MAX_JSON_BYTES
    strict_json = _helpers.StrictJSONProvider(app)
    strict_json.sort_keys = app.json.sort_keys
    app.json = strict_json
    # Every `<int:...>` id is bounded to 64 bits; set before any route is added, as rules bind it then.
    app.url_map.converters["int"] = _helpers.BoundedIntConverter
    origins = {"origins": list(settings.CORS_ORIGINS)}
    CORS(app, resources={r"/api/*": origins, r"/reports/api/*": origins})
    _helpers.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(f"app.routes.{name}").bp)

    @app.get("/")
    def index():
        return redirect("/files")

    @app.get("/api/health")
    def health():
        return {"status": "ok", "storage_backend": settings.STORAGE_BACKEND,
                "inference_backend": settings.INFERENCE_BACKEND}

    @app.teardown_request
    def discard_uploads(_exc):
        discard = getattr(request, "discard_uploads", None)
        if discard is not None:
            discard()
