"""The offline stand-in for Bedrock: an analyser that measures the media itself and a batch engine that
speaks Bedrock's formats and statuses. It keeps its own data (jobs_store.py), never the app's."""
from app.inference.local.analyzer import AnalyzerError, LocalAnalyzer
from app.inference.local.engine import LocalBatchEngine

__all__ = ["AnalyzerError", "LocalAnalyzer", "LocalBatchEngine"]
