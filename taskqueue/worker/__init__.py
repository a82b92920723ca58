"""The worker: consumers that claim, run and settle messages, and their pools."""

from taskqueue.worker.config import WorkerConfig

__all__ = ["WorkerConfig"]
