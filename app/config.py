"""Settings read from the environment and `.env`, typed and validated in one place."""
from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping


class ConfigError(ValueError):
    """A setting has a value the app cannot run with."""


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value.strip())
        if low is not None and number < low:
            raise ValueError(f"must be at least {low}")
        if high is not None and number > high:
            raise ValueError(f"must be at most {high}")
        return number

    return parse


def _float_in(low: float | None = None) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value.strip())
        if low is not None and number < low:
            raise ValueError(f"must be at least {low}")
        return number

    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return lowered

    return parse


def _text(value: str) -> str:
    return value.strip()


def _int_choice(*options: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value.strip())
        if number not in options:
            raise ValueError(f"must be one of {', '.join(map(str, options))}")
        return number

    return parse


def _optional_price(value: str) -> float | None:
    if not value.strip():
        return None
    price = float(value.strip())
    if not price >= 0 or price == float("inf"):
        raise ValueError("must be a price in USD, at least 0")
    return price


def _path_list(value: str) -> tuple[Path, ...]:
    return tuple(Path(part).expanduser() for part in value.split(":") if part.strip())


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _language_code(value: str) -> str:
    """'' or a language code such as en-US (Transcribe's LanguageCode form)."""
    code = value.strip()
    if code and not re.fullmatch(r"[a-z]{2,3}-[A-Z]{2}", code):
        raise ValueError("must be a language code such as en-US, or empty to identify the language")
    return code


# A DNS name or a bracketed IPv6 address, then an optional port: what a browser puts in the Host header.
_HOST_ENTRY = re.compile(r"(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?)(?::(\d{1,5}))?")


def _host_list(value: str) -> tuple[str, ...]:
    entries = []
    for part in _csv(value):
        entry = part.lower()
        match = _HOST_ENTRY.fullmatch(entry)
        if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
            raise ValueError(f"{part!r} is not host or host:port (write an IPv6 address in brackets: [::1]:5800)")
        entries.append(entry)
    return tuple(entries)


# name -> (parser, default as the string a user would write, comment for .env.example)
SPEC: dict[str, tuple[Callable[[str], Any], str | None, str]] = {
    "HOST": (_text, "127.0.0.1", "Address or name to serve on; API_TOKEN is required unless it is loopback only"),
    "PORT": (_int_in(1, 65535), "5800", "Port to serve on"),
    "SERVER_THREADS": (_int_in(1, 256), "8", "Requests the server (waitress) handles at once"),
    "ALLOWED_HOSTS": (_host_list, "", "Comma-separated extra Host header values to answer (host or host:port); "
                      "localhost, 127.0.0.1, [::1] and HOST are always accepted"),
    "DATA_DIR": (_text, "data", "Everything the app writes: database, proxies, uploads, local object store"),
    "DATABASE_PATH": (_text, None, "SQLite database file (default DATA_DIR/app.db)"),
    "LIBRARY_ROOTS": (_path_list, None, "Colon-separated folders that may be imported (default: home dir and DATA_DIR)"),
    "CORS_ORIGINS": (_csv, "http://localhost:5800", "Comma-separated origins allowed to call the API"),
    "API_TOKEN": (_text, "", "When set, every page and API request needs it: 'Authorization: Bearer <token>' "
                  "or the cookie of the sign-in page"),
    "LOG_LEVEL": (_choice("debug", "info", "warning", "error"), "info", "Logging level"),
    "MAX_VIDEO_SIZE_MB": (_int_in(1), "10240", "Largest video accepted by upload"),
    "MAX_IMAGE_SIZE_MB": (_int_in(1), "50", "Largest image accepted by upload"),
    "MAX_JSON_BYTES": (_int_in(1024, 64 * 1024**2), "1048576",
                       "Largest JSON request body accepted (uploads have MAX_VIDEO_SIZE_MB / MAX_IMAGE_SIZE_MB)"),
    "PROXY_WORKERS": (_int_in(1, 64), None, "Parallel proxy/thumbnail workers (default: number of cores)"),
    "TASK_WORKERS": (_int_in(1, 16), "2", "Background tasks (imports, proxies, analyses, staging) run at once"),
    "STORAGE_BACKEND": (_choice("local", "s3"), "local", "Object store: local folder under DATA_DIR or Amazon S3"),
    "S3_BUCKET_NAME": (_text, "media-library", "Bucket for batch inputs/outputs (the local store uses it as a folder name)"),
    "S3_ENDPOINT_URL": (_text, "", "Optional endpoint for S3-compatible stores"),
    "AWS_REGION": (_text, "us-east-1", "AWS region for S3 and Bedrock"),
    "AWS_PROFILE": (_text, "", "Optional named AWS profile (otherwise the standard credential chain)"),
    "INFERENCE_BACKEND": (_choice("local", "bedrock"), "local", "Analysis engine: offline local analyser or Amazon Bedrock"),
    "BEDROCK_BATCH_ROLE_ARN": (_text, "", "IAM service role Bedrock assumes for batch jobs"),
    "BATCH_JOB_TIMEOUT_HOURS": (_int_in(24, 168), "72", "timeoutDurationInHours for batch jobs (24-168)"),
    "NOVA_PRICES_FILE": (_text, "", "Optional JSON file overriding model prices"),
    "LOCAL_BATCH_MIN_RECORDS": (_int_in(1), "1", "Minimum records per job accepted by the local batch engine"),
    "LOCAL_BATCH_WORKERS": (_int_in(1, 8), "1", "Local batch jobs processed at once"),
    "LOCAL_BATCH_STEP_DELAY": (_float_in(0), "0", "Seconds the local engine lingers in each early status (demos)"),
    "BATCH_IMAGES": (_parse_bool, "false", "Send images through batch jobs too (by S3 URI)"),
    "BATCH_MAX_FILES": (_int_in(1, 50000), "150", "Most files per batch job"),
    "BATCH_MAX_BYTES": (_int_in(1), str(int(4.5 * 1024**3)), "Most bytes of media per batch job (90% of 5 GB)"),
    "BATCH_MIN_RECORDS": (_int_in(1), "100", "Bedrock's minimum records per batch job"),
    "BATCH_MAX_CONCURRENT_JOBS": (_int_in(1, 1000), "20", "Batch jobs per model submitted or running at once"),
    "BATCH_UPLOAD_WORKERS": (_int_in(1, 64), "4", "Parallel uploads/copies while staging a batch"),
    "BATCH_POLLER_ENABLED": (_parse_bool, "true", "Run the background batch poller"),
    "BATCH_POLLER_INTERVAL": (_float_in(0.1), "60", "Seconds between poller cycles"),
    "BATCH_CHECK_INTERVAL": (_float_in(0), "30", "Seconds between status checks of one batch job"),
    "BATCH_AUTO_CLEANUP": (_parse_bool, "true", "Delete staging and output objects once results are stored"),
    "BATCH_RESULT_FETCH_MAX_RETRIES": (_int_in(1, 100), "3", "Transient failures before a chunk is RESULT_FETCH_FAILED"),
    "SEGMENT_SECONDS": (_int_in(0, 3600), "0", "Longer videos are analysed as segments of this many seconds (0: the "
                        "longest span the model samples at 1 frame per second, e.g. 960 for Nova Lite/Pro)"),
    "SEGMENT_OVERLAP_SECONDS": (_int_in(0, 300), "10", "Seconds each segment overlaps the next"),
    "SEGMENT_WORKERS": (_int_in(1, 16), "3", "Segments of one video analysed at once on demand"),
    "TRANSCRIBE_BACKEND": (_choice("aws", "local", "none"), "local",
                           "Speech transcripts: Amazon Transcribe (aws, needs STORAGE_BACKEND=s3), the offline "
                           "stand-in that marks speech but cannot recognise words (local), or subtitles only (none)"),
    "TRANSCRIBE_LANGUAGE": (_language_code, "", "Language of the speech, e.g. en-US (empty: Transcribe identifies it)"),
    "TRANSCRIBE_SPEAKER_LABELS": (_parse_bool, "true", "Tell speakers apart in transcripts (speaker labels)"),
    "TRANSCRIBE_MAX_SPEAKERS": (_int_in(2, 30), "10", "Most speakers told apart in one file (2-30)"),
    "TRANSCRIBE_MAX_CONCURRENT_JOBS": (_int_in(1, 250), "25",
                                       "Transcription jobs submitted or running at once; the rest wait their turn"),
    "TRANSCRIBE_PRICE_PER_MINUTE": (_float_in(0), "0.006",
                                    "USD per minute of audio on Amazon Transcribe (docs/transcribe-facts.md)"),
    "TRANSCRIBE_MIN_BILLED_SECONDS": (_float_in(0), "15", "Seconds billed at least per transcription job"),
    "TRANSCRIPT_PROMPT_TOKENS": (_int_in(0, 100_000), "6000", "Most tokens of a video's transcript each Nova "
                                 "prompt carries, trimmed evenly with timestamps (0: leave transcripts out)"),
    "EMBEDDINGS_ENABLED": (_parse_bool, "false", "Embed every completed analysis (its image or video and its texts) "
                           "for semantic search; the backend follows INFERENCE_BACKEND"),
    "EMBEDDING_DIMENSION": (_int_choice(256, 384, 1024, 3072), "1024", "Length of the vectors (256, 384, 1024 or 3072)"),
    "EMBEDDING_SEGMENT_SECONDS": (_int_in(1, 30), "15", "Seconds per video segment the model embeds (1-30)"),
    "EMBEDDING_VIDEO_MODE": (_choice("combined", "separate"), "combined",
                             "Video segments: one vector of picture and sound, or one of each"),
    "EMBEDDING_MAX_CONCURRENT": (_int_in(1, 1000), "10", "Asynchronous video embeddings running at once"),
    "EMBEDDING_IMAGE_PRICE_USD": (_optional_price, "", "Price of one image embedding for estimates (empty: unknown)"),
    "EMBEDDING_VIDEO_PRICE_USD_PER_SECOND": (_optional_price, "", "Price of one second of video embedded (empty: unknown)"),
}


@dataclass(frozen=True)
class Settings:
    """Validated settings; paths are absolute."""

    HOST: str
    PORT: int
    SERVER_THREADS: int
    ALLOWED_HOSTS: tuple[str, ...]
    DATA_DIR: Path
    DATABASE_PATH: Path
    LIBRARY_ROOTS: tuple[Path, ...]
    CORS_ORIGINS: tuple[str, ...]
    API_TOKEN: str
    LOG_LEVEL: str
    MAX_VIDEO_SIZE_MB: int
    MAX_IMAGE_SIZE_MB: int
    MAX_JSON_BYTES: int
    PROXY_WORKERS: int
    TASK_WORKERS: int
    STORAGE_BACKEND: str
    S3_BUCKET_NAME: str
    S3_ENDPOINT_URL: str
    AWS_REGION: str
    AWS_PROFILE: str
    INFERENCE_BACKEND: str
    BEDROCK_BATCH_ROLE_ARN: str
    BATCH_JOB_TIMEOUT_HOURS: int
    NOVA_PRICES_FILE: str
    LOCAL_BATCH_MIN_RECORDS: int
    LOCAL_BATCH_WORKERS: int
    LOCAL_BATCH_STEP_DELAY: float
    BATCH_IMAGES: bool
    BATCH_MAX_FILES: int
    BATCH_MAX_BYTES: int
    BATCH_MIN_RECORDS: int
    BATCH_MAX_CONCURRENT_JOBS: int
    BATCH_UPLOAD_WORKERS: int
    BATCH_POLLER_ENABLED: bool
    BATCH_POLLER_INTERVAL: float
    BATCH_CHECK_INTERVAL: float
    BATCH_AUTO_CLEANUP: bool
    BATCH_RESULT_FETCH_MAX_RETRIES: int
    SEGMENT_SECONDS: int
    SEGMENT_OVERLAP_SECONDS: int
    SEGMENT_WORKERS: int
    TRANSCRIBE_BACKEND: str
    TRANSCRIBE_LANGUAGE: str
    TRANSCRIBE_SPEAKER_LABELS: bool
    TRANSCRIBE_MAX_SPEAKERS: int
    TRANSCRIBE_MAX_CONCURRENT_JOBS: int
    TRANSCRIBE_PRICE_PER_MINUTE: float
    TRANSCRIBE_MIN_BILLED_SECONDS: float
    TRANSCRIPT_PROMPT_TOKENS: int
    EMBEDDINGS_ENABLED: bool
    EMBEDDING_DIMENSION: int
    EMBEDDING_SEGMENT_SECONDS: int
    EMBEDDING_VIDEO_MODE: str
    EMBEDDING_MAX_CONCURRENT: int
    EMBEDDING_IMAGE_PRICE_USD: float | None
    EMBEDDING_VIDEO_PRICE_USD_PER_SECOND: float | None
    TESTING: bool = False
    # The addresses HOST resolved to when the settings were loaded; the server binds these, so the loopback
    # decision and the bind use one resolution (a name cannot resolve differently in between).
    BIND_ADDRESSES: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    @property
    def uploads_dir(self) -> Path:
        return self.DATA_DIR / "uploads"

    @property
    def proxies_dir(self) -> Path:
        return self.DATA_DIR / "proxies"

    @property
    def objects_dir(self) -> Path:
        return self.DATA_DIR / "objects"

    @property
    def effective_min_records(self) -> int:
        """The batch minimum of the configured inference backend."""
        if self.INFERENCE_BACKEND == "local":
            return self.LOCAL_BATCH_MIN_RECORDS
        return self.BATCH_MIN_RECORDS

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to show (no token)."""
        out = {}
        for f in fields(self):
            if f.name in {"API_TOKEN", "extra"}:
                continue
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            out[f.name] = value
        return out


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from an environment mapping plus overrides; raise ConfigError naming the variable."""
    env = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for name, (parse, default, _comment) in SPEC.items():
        if name in overrides:
            raw = overrides.pop(name)
            if not isinstance(raw, str):
                values[name] = raw
                continue
        else:
            raw = env.get(name)
            if raw is None or (raw.strip() == "" and default not in (None, "")):
                raw = default
        if raw is None:
            values[name] = None
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from None
    testing = bool(overrides.pop("TESTING", False))

    data_dir = Path(values["DATA_DIR"]).expanduser().resolve()
    values["DATA_DIR"] = data_dir
    db_path = values["DATABASE_PATH"]
    values["DATABASE_PATH"] = Path(db_path).expanduser().resolve() if db_path else data_dir / "app.db"
    roots = values["LIBRARY_ROOTS"]
    if not roots:
        roots = (Path.home(), data_dir)
    values["LIBRARY_ROOTS"] = tuple(Path(r).expanduser().resolve() for r in roots)
    if values["PROXY_WORKERS"] is None:
        values["PROXY_WORKERS"] = max(1, os.cpu_count() or 1)
    if values["STORAGE_BACKEND"] == "s3" and not values["S3_BUCKET_NAME"]:
        raise ConfigError("S3_BUCKET_NAME must be set when STORAGE_BACKEND=s3")
    if values["INFERENCE_BACKEND"] == "bedrock" and values["STORAGE_BACKEND"] != "s3":
        raise ConfigError("INFERENCE_BACKEND=bedrock needs STORAGE_BACKEND=s3 (Bedrock reads batch inputs from S3)")
    if values["TRANSCRIBE_BACKEND"] == "aws" and values["STORAGE_BACKEND"] != "s3":
        raise ConfigError("TRANSCRIBE_BACKEND=aws needs STORAGE_BACKEND=s3 (Amazon Transcribe reads the audio from S3)")
    addresses = resolve_host(values["HOST"])
    if not _is_loopback(addresses) and not values["API_TOKEN"]:
        raise ConfigError(f"HOST={values['HOST']!r} is not a loopback address: set API_TOKEN to protect the API")
    return Settings(**values, TESTING=testing, BIND_ADDRESSES=addresses, extra=overrides)


def resolve_host(host: str) -> tuple[str, ...]:
    """The addresses a server binding `host` listens on (getaddrinfo, as the server would); () when the name
    does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)))


def _is_loopback(addresses: tuple[str, ...]) -> bool:
    """Loopback only if every address is: a name that also resolves elsewhere, or not at all, is not."""
    return bool(addresses) and all(_loopback_address(address) for address in addresses)


def _loopback_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is IPv4's loopback
    return (mapped or ip).is_loopback


def env_example() -> str:
    """The text of .env.example, generated from SPEC so it never drifts."""
    lines = ["# Every setting with its default. Copy to .env and change what you need."]
    for name, (_parse, default, comment) in SPEC.items():
        lines.append(f"# {comment}")
        lines.append(f"{name}={default or ''}")
    return "\n".join(lines) + "\n"
