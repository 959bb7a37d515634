"""Offline stand-in for Nova: answers messages-v1 analysis requests by measuring the media itself."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from app.inference.local import _usage
from app.inference.local._image_facts import ImageDecodeFailed, ImageFacts, extract_image_facts
from app.inference.local._image_results import ImageResults
from app.inference.local._merge_answer import MergeInputError, merged_summary
from app.inference.local._prompt_header import HeaderError, parse_header
from app.inference.local._video_facts import DecodeFailed, VideoFacts, extract_video_facts
from app.inference.local._video_results import VideoResults

log = logging.getLogger(__name__)

VIDEO_FORMATS = frozenset({"mp4", "mov", "mkv", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp", "3gp"})
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
CACHE_ENTRIES = 4


class AnalyzerError(Exception):
    """A request the analyser cannot answer; code is 'invalid_request', 'media_not_found' or 'decode_error'."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class LocalAnalyzer:
    """Answers Nova analysis requests from decoded pixels, file paths and metadata, never from a model."""

    MODEL_ID = "local-analyzer"

    def __init__(self, resolve_uri: Callable[[str], Path], *, frame_rate: float = 1.0) -> None:
        if frame_rate <= 0:
            raise ValueError("frame_rate must be positive")
        self._resolve_uri = resolve_uri
        self.frame_rate = frame_rate
        # Facts keyed by file identity, so five single-type requests on one video decode it once.
        self._cache: OrderedDict[tuple, VideoFacts | ImageFacts] = OrderedDict()
        self._lock = threading.Lock()

    def respond(self, request: dict) -> dict:
        """Return the Nova response body for a messages-v1 request; raises AnalyzerError."""
        kind, block, prompt, system = _unpack_request(request)
        try:
            header = parse_header(prompt)
        except HeaderError as exc:
            raise AnalyzerError("invalid_request", str(exc)) from exc
        if header.media != kind:
            carried = f"a {kind} block" if kind != "text" else "no media block"
            raise AnalyzerError("invalid_request", f"the prompt says Media: {header.media} but the request "
                                                   f"carries {carried}")
        started = time.perf_counter()
        if kind == "text":  # the summary merge of a segmented video: text in, text out
            try:
                result = merged_summary(header, prompt)
            except MergeInputError as exc:
                raise AnalyzerError("invalid_request", str(exc)) from exc
            media_tokens = 0
        elif kind == "video":
            facts = self._video_facts(block)
            result = VideoResults(header, facts).build(header.task)
            media_tokens = _usage.video_tokens(facts.duration)
        else:
            image = self._image_facts(block)
            result = ImageResults(header, image).build(header.task)
            media_tokens = _usage.image_tokens(image.width, image.height)
        log.info("local analysis of %s (%s) took %.2fs", header.name or kind, header.task,
                 time.perf_counter() - started)
        text = json.dumps(result, ensure_ascii=False)
        input_tokens = media_tokens + _usage.text_tokens(prompt) + _usage.text_tokens(system)
        return _response(text, input_tokens, _max_tokens(request))

    def _video_facts(self, block: dict) -> VideoFacts:
        """Decoded facts of the block's video, from the cache when the same file was seen."""
        source = self._media_source(block)
        if isinstance(source, Path):
            stat = source.stat()
            key = ("video", str(source.resolve()), stat.st_mtime_ns, stat.st_size, self.frame_rate)
        else:
            key = ("video", hashlib.sha256(source).hexdigest(), self.frame_rate)
        cached = self._cache_get(key)
        if isinstance(cached, VideoFacts):
            return cached
        try:
            if isinstance(source, Path):
                facts = extract_video_facts(source, frame_rate=self.frame_rate)
            else:
                with tempfile.TemporaryDirectory(prefix="local-analyzer-") as tmp:
                    path = Path(tmp) / f"upload.{block.get('format', 'mp4')}"
                    path.write_bytes(source)
                    facts = extract_video_facts(path, frame_rate=self.frame_rate)
        except DecodeFailed as exc:
            raise AnalyzerError("decode_error", str(exc)) from exc
        self._cache_put(key, facts)
        return facts

    def _image_facts(self, block: dict) -> ImageFacts:
        """Measured facts of the block's image."""
        source = self._media_source(block)
        if isinstance(source, Path):
            stat = source.stat()
            key = ("image", str(source.resolve()), stat.st_mtime_ns, stat.st_size)
        else:
            key = ("image", hashlib.sha256(source).hexdigest())
        cached = self._cache_get(key)
        if isinstance(cached, ImageFacts):
            return cached
        try:
            facts = extract_image_facts(source)
        except ImageDecodeFailed as exc:
            raise AnalyzerError("decode_error", str(exc)) from exc
        self._cache_put(key, facts)
        return facts

    def _media_source(self, block: dict) -> Path | bytes:
        """The local file behind an s3Location, or the decoded inline bytes."""
        source = block.get("source")
        if not isinstance(source, dict):
            raise AnalyzerError("invalid_request", "the media block has no source")
        if "s3Location" in source:
            uri = (source["s3Location"] or {}).get("uri") if isinstance(source["s3Location"], dict) else None
            if not isinstance(uri, str) or not uri.startswith("s3://"):
                raise AnalyzerError("invalid_request", f"s3Location.uri must be an s3:// URI, got {uri!r}")
            return self._resolve(uri)
        if "bytes" in source:
            return _decode_bytes(source["bytes"])
        raise AnalyzerError("invalid_request", "the media source needs s3Location or bytes")

    def _resolve(self, uri: str) -> Path:
        """Map an s3:// URI to an existing local file."""
        try:
            path = Path(self._resolve_uri(uri))
        except FileNotFoundError as exc:
            raise AnalyzerError("media_not_found", f"no object at {uri}") from exc
        except Exception as exc:
            # Object stores signal a missing key with their own error types, marked by code.
            if getattr(exc, "code", None) in ("NotFound", "NoSuchKey", "404"):
                raise AnalyzerError("media_not_found", f"no object at {uri}") from exc
            if isinstance(exc, ValueError):
                raise AnalyzerError("invalid_request", f"unusable media URI {uri}: {exc}") from exc
            raise
        if not path.is_file():
            raise AnalyzerError("media_not_found", f"no object at {uri}")
        return path

    def _cache_get(self, key: tuple) -> VideoFacts | ImageFacts | None:
        """The cached facts for key, marked as recently used."""
        with self._lock:
            facts = self._cache.get(key)
            if facts is not None:
                self._cache.move_to_end(key)
            return facts

    def _cache_put(self, key: tuple, facts: VideoFacts | ImageFacts) -> None:
        """Remember facts, dropping the least recently used entry beyond CACHE_ENTRIES."""
        with self._lock:
            self._cache[key] = facts
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)


def _unpack_request(request: dict) -> tuple[str, dict, str, str]:
    """(media kind, media block, prompt text, system text) of a valid messages-v1 request; a text-only
    request (the summary merge) has the kind "text" and an empty block."""
    if not isinstance(request, dict):
        raise AnalyzerError("invalid_request", "the request body must be a JSON object")
    if request.get("schemaVersion", "messages-v1") != "messages-v1":
        raise AnalyzerError("invalid_request", f"unsupported schemaVersion {request.get('schemaVersion')!r}")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise AnalyzerError("invalid_request", "messages must be a non-empty list")
    first = messages[0]
    if first.get("role") != "user":
        raise AnalyzerError("invalid_request", "the first message must have role 'user'")
    content = first.get("content")
    if not isinstance(content, list):
        raise AnalyzerError("invalid_request", "message content must be a list of blocks")
    media, texts = [], []
    for block in content:
        if not isinstance(block, dict) or len(block) != 1:
            raise AnalyzerError("invalid_request", "each content block must have exactly one key")
        (kind, value), = block.items()
        if kind in ("video", "image") and isinstance(value, dict):
            media.append((kind, value))
        elif kind == "text" and isinstance(value, str):
            texts.append(value)
        else:
            raise AnalyzerError("invalid_request", f"unsupported content block {kind!r}")
    if len(media) > 1:
        raise AnalyzerError("invalid_request", f"expected at most one video or image block, got {len(media)}")
    if not texts:
        raise AnalyzerError("invalid_request", "the message has no text block")
    if not media:
        return "text", {}, "\n".join(texts), _system_text(request.get("system"))
    kind, block = media[0]
    formats = VIDEO_FORMATS if kind == "video" else IMAGE_FORMATS
    if block.get("format") not in formats:
        raise AnalyzerError("invalid_request", f"unsupported {kind} format {block.get('format')!r}")
    return kind, block, "\n".join(texts), _system_text(request.get("system"))


def _system_text(system: object) -> str:
    """The concatenated system prompt texts."""
    if system is None:
        return ""
    if not isinstance(system, list) or not all(isinstance(s, dict) and isinstance(s.get("text"), str)
                                               for s in system):
        raise AnalyzerError("invalid_request", "system must be a list of {'text': ...} blocks")
    return "\n".join(s["text"] for s in system)


def _decode_bytes(data: object) -> bytes:
    """Inline media: base64 text as InvokeModel sends it, or raw bytes as Converse does."""
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    elif isinstance(data, str):
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AnalyzerError("invalid_request", "source.bytes is not valid base64") from exc
    else:
        raise AnalyzerError("invalid_request", "source.bytes must be a base64 string")
    if not raw:
        raise AnalyzerError("invalid_request", "source.bytes is empty")
    return raw


def _max_tokens(request: dict) -> int | None:
    """inferenceConfig.maxTokens when it is a positive integer."""
    config = request.get("inferenceConfig")
    value = config.get("maxTokens") if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _response(text: str, input_tokens: int, max_tokens: int | None) -> dict:
    """The Nova response body; like Nova, output beyond maxTokens is cut off."""
    output_tokens = max(1, _usage.text_tokens(text))
    stop_reason = "end_turn"
    if max_tokens is not None and output_tokens > max_tokens:
        text = text[:max_tokens * _usage.CHARS_PER_TOKEN]
        output_tokens = max_tokens
        stop_reason = "max_tokens"
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                  "totalTokens": input_tokens + output_tokens},
    }
