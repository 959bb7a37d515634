"""Embedding backends (Nova Multimodal Embeddings and the offline stand-in). Import the Bedrock one from
app.inference.embeddings.bedrock: only that module loads boto3."""
from app.inference.embeddings.base import (
    DIMENSIONS,
    INDEX_PURPOSE,
    NOVA_EMBEDDINGS_MODEL_ID,
    QUERY_PURPOSE,
    AsyncInvocation,
    EmbeddingBackend,
    Segment,
)
from app.inference.embeddings.local import LOCAL_MODEL_ID, LocalEmbeddings

__all__ = ["DIMENSIONS", "INDEX_PURPOSE", "LOCAL_MODEL_ID", "NOVA_EMBEDDINGS_MODEL_ID", "QUERY_PURPOSE",
           "AsyncInvocation", "EmbeddingBackend", "LocalEmbeddings", "Segment"]
