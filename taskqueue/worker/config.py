"""WorkerConfig: everything runworker decided, as one frozen object."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from taskqueue.compat import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME


def default_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    queues: tuple[str, ...] = (DEFAULT_TASK_QUEUE_NAME,)
    name: str = ""
    burst: bool = False
    pool: str = "solo"
    concurrency: int = 1
    max_tasks_per_child: int | None = None
    max_memory_per_child: int | None = None  # KiB
    backend: str = DEFAULT_TASK_BACKEND_ALIAS
    grace: float = 30.0
    block_timeout: float = 2.0  # idle: one BLMOVE per queue this often; stop within it
    max_batch: int = 100
    async_concurrency: int = (
        10  # async tasks of one batch run together, this many at most
    )

    @property
    def worker_name(self) -> str:
        return self.name or default_name()
