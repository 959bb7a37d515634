"""Settings: defaults, validation and the generated .env.example."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app import config, create_app
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
    assert settings.SERVER_THREADS == 8 and settings.ALLOWED_HOSTS == ()
    assert settings.BIND_ADDRESSES == ("127.0.0.1",)
    assert Path.home().resolve() in settings.LIBRARY_ROOTS and tmp_path in settings.LIBRARY_ROOTS


@pytest.mark.parametrize(
    "name, value",
    [("PORT", "eighty"), ("PORT", "70000"), ("BATCH_JOB_TIMEOUT_HOURS", "12"), ("BATCH_JOB_TIMEOUT_HOURS", "200"),
     ("STORAGE_BACKEND", "ftp"), ("BATCH_AUTO_CLEANUP", "maybe"), ("MAX_IMAGE_SIZE_MB", "0"),
     ("SERVER_THREADS", "0"), ("SERVER_THREADS", "many"), ("ALLOWED_HOSTS", "http://media.lan"),
     ("ALLOWED_HOSTS", "media.lan:99999"), ("ALLOWED_HOSTS", "::1"), ("ALLOWED_HOSTS", "media.lan/x"),
     ("ALLOWED_HOSTS", "*")],
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


# Names that resolve with no DNS (the hosts file and numeric addresses) and ones that cannot resolve at all.
@pytest.mark.parametrize("host", ["LOCALHOST", "localhost", "127.0.0.1", "::1", "127.0.0.2"])
def test_a_host_that_binds_only_loopback_needs_no_token(tmp_path, host):
    settings = load_settings(environ={"DATA_DIR": str(tmp_path), "HOST": host})
    assert settings.BIND_ADDRESSES and all(a.startswith("127.") or a == "::1" for a in settings.BIND_ADDRESSES)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "no-such-host.invalid", "127.0.0.1.no-such-host.invalid",
                                  "127.evil"])
def test_a_host_that_is_not_loopback_or_does_not_resolve_needs_a_token(tmp_path, host):
    with pytest.raises(ConfigError, match="API_TOKEN"):
        load_settings(environ={"DATA_DIR": str(tmp_path), "HOST": host})


def _resolving_to(*addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]
    return getaddrinfo


def test_loopback_is_decided_by_every_address_the_name_resolves_to(tmp_path, monkeypatch):
    env = {"DATA_DIR": str(tmp_path), "HOST": "127.0.0.1.nip.io"}
    # A name that looks like loopback but also resolves to a LAN address binds that address too.
    monkeypatch.setattr(config.socket, "getaddrinfo", _resolving_to("127.0.0.1", "192.168.1.5"))
    with pytest.raises(ConfigError, match="API_TOKEN"):
        load_settings(environ=env)
    # What counts is the address: a name resolving to loopback only is loopback (and is what the server binds).
    monkeypatch.setattr(config.socket, "getaddrinfo", _resolving_to("127.0.0.1", "::ffff:127.0.0.1", "::1"))
    assert load_settings(environ=env).BIND_ADDRESSES == ("127.0.0.1", "::ffff:127.0.0.1", "::1")
    monkeypatch.setattr(config.socket, "getaddrinfo", _resolving_to("10.0.0.1"))
    with pytest.raises(ConfigError, match="API_TOKEN"):
        load_settings(environ={**env, "HOST": "localhost"})


def test_allowed_hosts_are_parsed_lowercase(tmp_path):
    settings = load_settings(environ={"DATA_DIR": str(tmp_path),
                                      "ALLOWED_HOSTS": " Media.LAN ,box.example:8443,[FD00::5]:5800,"})
    assert settings.ALLOWED_HOSTS == ("media.lan", "box.example:8443", "[fd00::5]:5800")


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


def test_embedding_settings_have_defaults_and_are_validated(tmp_path):
    settings = load_settings(environ={"DATA_DIR": str(tmp_path)})
    assert (settings.EMBEDDINGS_ENABLED, settings.EMBEDDING_DIMENSION, settings.EMBEDDING_SEGMENT_SECONDS,
            settings.EMBEDDING_VIDEO_MODE, settings.EMBEDDING_IMAGE_PRICE_USD) == (False, 1024, 15, "combined", None)
    assert load_settings(environ={"DATA_DIR": str(tmp_path), "EMBEDDING_DIMENSION": "3072",
                                  "EMBEDDING_VIDEO_PRICE_USD_PER_SECOND": "0.0007"}).EMBEDDING_VIDEO_PRICE_USD_PER_SECOND == 0.0007
    for name, value in (("EMBEDDING_DIMENSION", "512"), ("EMBEDDING_SEGMENT_SECONDS", "31"),
                        ("EMBEDDING_IMAGE_PRICE_USD", "-1"), ("EMBEDDING_VIDEO_MODE", "both")):
        with pytest.raises(ConfigError, match=f"^{name}="):
            load_settings(environ={"DATA_DIR": str(tmp_path), name: value})
