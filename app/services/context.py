"""The services context: the collaborators every service works with, built once per process."""
from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from app.config import Settings
from app.inference.base import InferenceBackend
from app.inference.embeddings.base import EmbeddingBackend
from app.inference.transcribe.base import TranscriptionService
from app.nova.catalog import Catalog
from app.services.signals import Signals
from app.services.tasks import TaskRunner
from app.storage.base import ObjectStore


@dataclass(frozen=True)
class Services:
    """Settings, object store, inference backend, model catalog, the task runner and the wake-ups of the
    background engines; passed to services."""

    settings: Settings
    store: ObjectStore
    backend: InferenceBackend
    catalog: Catalog
    tasks: TaskRunner
    signals: Signals
    embeddings: EmbeddingBackend | None = None  # vectors for semantic search (services/embeddings.py)
    vectors: Any = None  # the process's vector indexes (services/vector_index.VectorIndexes)
    transcriber: TranscriptionService | None = None  # speech to text; None with TRANSCRIBE_BACKEND=none
