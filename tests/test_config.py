"""Settings: defaults, validation and the generated .env.example."""
from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import SPEC, ConfigError, env_example, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_defaults_serve_on_loopback_port_5800_with_local_backends(tmp_path):
    settings = load_settings(environ={"DATA_DIR": str(tmp_path)})
    assert settings.HOST == "127.0.0.1"
    assert settings.PORT == 5800
    assert settings.DATABASE_PATH == tmp_path / "app.db"
    assert settings.STORAGE_BACKEND == "local"
    assert settings.INFERENCE_BACKEND == "local"
    assert settings.CORS_ORIGINS == ("http://localhost:5800",)
    assert settings.BATCH_MAX_FILES == 150
    assert settings.BATCH_MAX_BYTES == int(4.5 * 1024**3)
    assert settings.BATCH_JOB_TIMEOUT_HOURS == 72
    assert Path.home().resolve() in settings.LIBRARY_ROOTS and tmp_path in settings.LIBRARY_ROOTS


@pytest.mark.parametrize(
    "name, value",
    [("PORT", "eighty"), ("PORT", "70000"), ("BATCH_JOB_TIMEOUT_HOURS", "12"), ("BATCH_JOB_TIMEOUT_HOURS", "200"),
     ("STORAGE_BACKEND", "ftp"), ("BATCH_AUTO_CLEANUP", "maybe"), ("MAX_IMAGE_SIZE_MB", "0")],
)
def test_a_bad_value_is_reported_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"DATA_DIR": str(tmp_path), name: value})
    assert str(info.value).startswith(f"{name}=")


def test_non_loopback_host_requires_an_api_token(tmp_path):
    with pytest.raises(ConfigError, match="API_TOKEN"):
        load_settings(environ={"DATA_DIR": str(tmp_path), "HOST": "0.0.0.0"})
    settings = load_settings(environ={"DATA_DIR": str(tmp_path), "HOST": "0.0.0.0", "API_TOKEN": "s3cret"})
    assert settings.HOST == "0.0.0.0"


def test_bedrock_without_s3_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="STORAGE_BACKEND=s3"):
        load_settings(environ={"DATA_DIR": str(tmp_path), "INFERENCE_BACKEND": "bedrock"})


def test_create_app_stops_with_one_line_on_bad_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(SystemExit) as info:
        create_app()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Configuration error: PORT=")


def test_env_example_lists_every_setting_and_matches_the_committed_file():
    text = env_example()
    for name in SPEC:
        assert f"\n{name}=" in text
    assert (REPO_ROOT / ".env.example").read_text() == text
