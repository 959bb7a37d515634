"""A local batch job's output: `.jsonl.out` files in Bedrock's line format and the manifest.json.out counts."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.storage.base import ObjectStore

# A partial .out is republished once this many records, or a quarter of those done, are new:
# the rewrites then cost a constant factor of the output size, not its square.
MIN_RECORDS_PER_FLUSH = 10
FLUSH_FRACTION = 0.25


@dataclass
class Counters:
    processed: int = 0
    success: int = 0
    error: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    first_error: str | None = None

    def add(self, line: dict) -> None:
        """Count one output line."""
        self.processed += 1
        if "error" in line:
            self.error += 1
            if self.first_error is None:
                self.first_error = line["error"]["errorMessage"]
        else:
            self.success += 1
            tokens_in, tokens_out = usage_tokens(line["modelOutput"])
            self.input_tokens += tokens_in
            self.output_tokens += tokens_out

    def manifest(self, total: int) -> dict:
        """The manifest.json.out body."""
        return {"totalRecordCount": total, "processedRecordCount": self.processed,
                "successRecordCount": self.success, "errorRecordCount": self.error,
                "inputTokenCount": self.input_tokens, "outputTokenCount": self.output_tokens}


def usage_tokens(body: Any) -> tuple[int, int]:
    """(input, output) tokens of a model answer's usage block; 0 for anything missing or malformed."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    counts = []
    for name in ("inputTokens", "outputTokens"):
        value = usage.get(name)
        counts.append(value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0)
    return counts[0], counts[1]


class OutputFile:
    """Output lines of one input file, spooled to disk and published sorted by a hash of recordId."""

    def __init__(self, directory: Path, index: int) -> None:
        self.spool_path = directory / f"spool-{index}.jsonl"
        self.sorted_path = directory / f"sorted-{index}.jsonl"
        self._spool = open(self.spool_path, "w+b")
        # (hash of recordId, sequence, offset, length): small per record, the lines stay on disk.
        self._index: list[tuple[bytes, int, int, int]] = []
        self.published_count = 0
        self.finished = False  # every record of the input file is in

    def __len__(self) -> int:
        return len(self._index)

    def due(self) -> bool:
        """Whether enough new lines arrived to publish again."""
        return len(self) - self.published_count >= max(MIN_RECORDS_PER_FLUSH, FLUSH_FRACTION * self.published_count)

    def add(self, record_id: str, line: dict) -> None:
        data = json.dumps(line, separators=(",", ":")).encode("ascii") + b"\n"
        offset = self._spool.seek(0, os.SEEK_END)
        self._spool.write(data)
        digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).digest()[:8]
        self._index.append((digest, len(self._index), offset, len(data)))

    def publish(self, store: ObjectStore, key: str) -> None:
        """Write every line so far, in hash order, over the object at key in one atomic put."""
        self._spool.flush()
        with open(self.spool_path, "rb") as source, open(self.sorted_path, "wb") as target:
            for _, _, offset, length in sorted(self._index):
                source.seek(offset)
                target.write(source.read(length))
        store.put_file(key, self.sorted_path, content_type="application/jsonl")
        self.sorted_path.unlink(missing_ok=True)
        self.published_count = len(self._index)

    def close(self) -> None:
        self._spool.close()
