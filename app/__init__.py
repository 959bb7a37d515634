"""The application factory: config -> db -> backends -> blueprints -> background workers."""
from __future__ import annotations

import atexit
import logging
import sys
from typing import Any, Mapping

from flask import Flask, redirect, request

from app.config import ConfigError, Settings, load_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; a bad setting stops it with one line naming the variable."""
    try:
        settings = _load(test_config)
    except ConfigError as exc:
        _stop_on_config_error(exc, test_config)

    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["TESTING"] = settings.TESTING
    app.config["MAX_CONTENT_LENGTH"] = (settings.MAX_VIDEO_SIZE_MB + 16) * 1024 * 1024
    app.json.sort_keys = False
    _configure_logging(settings)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)

    from app.routes.upload_request import StreamingUploadRequest

    app.request_class = StreamingUploadRequest

    from flask_cors import CORS

    CORS(app, resources={r"/api/*": {"origins": list(settings.CORS_ORIGINS)},
                         r"/reports/api/*": {"origins": list(settings.CORS_ORIGINS)}})

    from app import db

    db.init_app(app)
    try:
        _init_backends(app, settings)
    except ConfigError as exc:
        _stop_on_config_error(exc, test_config)
    _init_jobs(app, settings)

    _init_poller(app, settings)

    from app.routes import batch, errors, files, jobs, nova, pages, poller, reports, search, security, usage

    errors.init_app(app)
    security.init_app(app)
    for blueprint in (files.bp, jobs.bp, nova.bp, batch.bp, poller.bp, reports.bp, search.bp, usage.bp, pages.bp):
        app.register_blueprint(blueprint)

    from app import cli

    cli.init_app(app)

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

    return app


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


def _init_backends(app: Flask, settings: Settings) -> None:
    from app.services import backends
    from app.services.analysis import Services

    store = backends.build_object_store(settings)
    backend = backends.build_inference_backend(settings, store)
    try:
        catalog = backends.build_catalog(settings)
    except ValueError as exc:
        raise ConfigError(f"NOVA_PRICES_FILE: {exc}") from None
    app.extensions["analysis"] = Services(settings=settings, store=store, backend=backend, catalog=catalog)
    # The local engine's worker stands in for Bedrock's fleet; tests drive it by hand.
    start = getattr(backend, "start", None)
    if start is not None and not settings.TESTING:
        start()
        atexit.register(backend.stop)


_STARTED_POLLERS: set[str] = set()


def _init_poller(app: Flask, settings: Settings) -> None:
    """The batch poller; its thread starts unless disabled or testing, and never twice per process."""
    from app.services.poller import BatchPoller

    poller = BatchPoller(settings.DATABASE_PATH, app.extensions["analysis"], jobs=app.extensions["jobs"])
    app.extensions["batch_poller"] = poller
    key = str(settings.DATABASE_PATH)
    if settings.BATCH_POLLER_ENABLED and not settings.TESTING and key not in _STARTED_POLLERS:
        _STARTED_POLLERS.add(key)
        poller.start()
        atexit.register(poller.stop)


def _init_jobs(app: Flask, settings: Settings) -> None:
    from app.services import analysis, derivatives, library
    from app.services.jobs import JobRunner

    runner = JobRunner(settings.DATABASE_PATH, workers=settings.JOB_WORKERS)

    def run_import(ctx, params):
        result = library.run_import(ctx, params)
        if params.get("generate_proxies", True):
            result["proxies_job_id"] = runner.submit(
                ctx.conn, "proxies",
                {"filter": {"directory": params["path"], "recursive": params.get("recursive", True)},
                 "missing": True, "force": False},
            )
        return result

    runner.register("import", run_import)
    runner.register("proxies", lambda ctx, params: derivatives.run_derivatives(settings, ctx, params))
    services = app.extensions["analysis"]
    runner.register("analyze", lambda ctx, params: analysis.run_analyze_job(services, ctx, params))
    from app.services.batch import staging

    runner.register("batch_stage", lambda ctx, params: staging.run_stage_job(services, ctx, params, jobs=runner))
    app.extensions["jobs"] = runner
    runner.start()
    atexit.register(runner.stop)
