"""A Flask Request whose multipart files stream straight to disk with per-file size limits, and whose
other bodies (JSON) are bounded by MAX_JSON_BYTES."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO

from flask import Request, current_app
from werkzeug.exceptions import RequestEntityTooLarge

from app.routes._helpers import max_json_bytes
from app.routes.security import MULTIPART_ENDPOINTS
from app.services import uploads


class _LimitedFile:
    """A temp file that refuses to grow past its limit, so an oversize upload stops early."""

    def __init__(self, handle: IO[bytes], limit: int, filename: str | None):
        self._handle = handle
        self._limit = limit
        self._filename = filename
        self._written = 0
        self.name = handle.name

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._written > self._limit:
            self._handle.close()
            raise RequestEntityTooLarge(
                f"{uploads.display_name(self._filename)!r} exceeds the limit of {self._limit // uploads.MB} MB "
                "(MAX_VIDEO_SIZE_MB / MAX_IMAGE_SIZE_MB)"
            )
        return self._handle.write(data)

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


class StreamingUploadRequest(Request):
    """Uploads go to DATA_DIR/uploads/.incoming while they arrive, never into memory."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.upload_temp_paths: list[Path] = []

    @property
    def is_upload(self) -> bool:
        """A multipart upload to the upload endpoint: the one body allowed past MAX_JSON_BYTES."""
        return self.path in MULTIPART_ENDPOINTS and self.mimetype == "multipart/form-data"

    @property
    def max_content_length(self) -> int | None:
        """How much of the body may be read: MAX_CONTENT_LENGTH for an upload, MAX_JSON_BYTES for anything
        else, so no request body is ever read whole past its limit. Werkzeug refuses a larger Content-Length
        before reading; a body of unknown length (chunked) it stops at the limit without a word, so JSON
        may read one byte more, by which json_body tells a body over the limit from one exactly at it."""
        if self._max_content_length is not None:
            return self._max_content_length
        if not current_app:
            return super().max_content_length
        return current_app.config["MAX_CONTENT_LENGTH"] if self.is_upload else max_json_bytes() + 1

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def discard_uploads(self) -> None:
        """Delete temp files not moved into the library (oversize, rejected, or an aborted request)."""
        for path in self.upload_temp_paths:
            path.unlink(missing_ok=True)

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        settings = current_app.config["SETTINGS"]
        handle = tempfile.NamedTemporaryFile(
            dir=uploads.incoming_dir(settings), prefix="up-", suffix=".part", delete=False
        )
        self.upload_temp_paths.append(Path(handle.name))
        return _LimitedFile(handle, uploads.size_limit_for(settings, filename), filename)
