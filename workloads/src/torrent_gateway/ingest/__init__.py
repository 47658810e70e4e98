"""Ingest: the streamed upload pipeline, chunking, hashing and torrent building."""

from .pipeline import IngestError, Ingestor, IngestSession

__all__ = ["IngestError", "IngestSession", "Ingestor"]
