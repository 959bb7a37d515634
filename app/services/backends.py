"""Builds the services context from settings: the one place that chooses local or AWS implementations."""
from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.inference.base import InferenceBackend
from app.inference.embeddings.base import EmbeddingBackend
from app.inference.transcribe.base import TranscriptionService
from app.nova.catalog import Catalog, load_catalog
from app.services.context import Services
from app.services.signals import BATCH, PROVIDER, Signals
from app.services.tasks import TaskRunner
from app.services.vector_index import VectorIndexes
from app.storage import ObjectStore, create_object_store

def build_services(settings: Settings) -> Services:
    """Store, backend, catalog and task runner (with every task kind registered); nothing is started."""
    from app.services import pipeline

    store = build_object_store(settings)
    signals = Signals(settings.DATABASE_PATH)
    services = Services(settings=settings, store=store, backend=build_inference_backend(settings, store, signals),
                        catalog=build_catalog(settings),
                        tasks=TaskRunner(settings.DATABASE_PATH, workers=settings.TASK_WORKERS), signals=signals,
                        embeddings=build_embedding_backend(settings, store),
                        vectors=VectorIndexes(settings.DATA_DIR / "vector-index"),
                        transcriber=build_transcriber(settings, store, signals))
    pipeline.register_task_kinds(services)
    return services


def build_object_store(settings: Settings) -> ObjectStore:
    return create_object_store(
        settings.STORAGE_BACKEND, data_dir=settings.DATA_DIR, bucket=settings.S3_BUCKET_NAME,
        region=settings.AWS_REGION or None, endpoint_url=settings.S3_ENDPOINT_URL or None,
        profile=settings.AWS_PROFILE or None,
    )


def build_inference_backend(settings: Settings, store: ObjectStore, signals: Signals | None = None) -> InferenceBackend:
    if settings.INFERENCE_BACKEND == "bedrock":
        from app.inference.bedrock import BedrockBackend

        return BedrockBackend(region=settings.AWS_REGION, profile=settings.AWS_PROFILE or None)
    from app.inference.local import LocalAnalyzer, LocalBatchEngine

    def resolve_uri(uri: str) -> Path:
        path = store.local_path(store.key_from_uri(uri))
        if path is None or not path.exists():
            raise FileNotFoundError(uri)
        return path

    engine = LocalBatchEngine(settings.DATABASE_PATH, store, LocalAnalyzer(resolve_uri),
                              min_records=settings.LOCAL_BATCH_MIN_RECORDS, workers=settings.LOCAL_BATCH_WORKERS,
                              step_delay=settings.LOCAL_BATCH_STEP_DELAY)
    if signals is not None:  # a job that ends wakes the poller, as no real provider can
        engine.on_job_end = lambda: signals.notify(BATCH, PROVIDER)
    return engine


def build_embedding_backend(settings: Settings, store: ObjectStore) -> EmbeddingBackend:
    """Nova Multimodal Embeddings with INFERENCE_BACKEND=bedrock, else the offline stand-in."""
    if settings.INFERENCE_BACKEND == "bedrock":
        from app.inference.embeddings.bedrock import BedrockEmbeddings

        return BedrockEmbeddings(region=settings.AWS_REGION, profile=settings.AWS_PROFILE or None,
                                 dimension=settings.EMBEDDING_DIMENSION)
    from app.inference.embeddings.local import LocalEmbeddings

    return LocalEmbeddings(store, dimension=settings.EMBEDDING_DIMENSION)


def build_transcriber(settings: Settings, store: ObjectStore,
                      signals: Signals | None = None) -> TranscriptionService | None:
    """Amazon Transcribe, the offline stand-in, or none (subtitles only): TRANSCRIBE_BACKEND."""
    if settings.TRANSCRIBE_BACKEND == "aws":
        from app.inference.transcribe.aws import AwsTranscriber

        return AwsTranscriber(region=settings.AWS_REGION, profile=settings.AWS_PROFILE or None)
    if settings.TRANSCRIBE_BACKEND == "none":
        return None
    from app.inference.transcribe.local import LocalTranscriber

    transcriber = LocalTranscriber(settings.DATABASE_PATH, store)
    if signals is not None:  # a job that ends wakes the poller, as the local batch engine's do
        transcriber.on_job_end = lambda: signals.notify(BATCH, PROVIDER)
    return transcriber


def build_catalog(settings: Settings) -> Catalog:
    return load_catalog(Path(settings.NOVA_PRICES_FILE) if settings.NOVA_PRICES_FILE else None)
