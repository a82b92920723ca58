"""A worker consumer in the test's own process, driven one step at a time.

Built the way ``Worker.consumer()`` builds one, so what a test sees in
memory (spans, Sentry events) is what a runworker process would report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskqueue import registry
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.loop import Consumer
from taskqueue.worker.main import Worker
from tests.conftest import wait_until


class InProcessWorker:
    """One solo consumer in burst mode; ``run_until`` steps it until a predicate holds."""

    def __init__(self, broker: Any) -> None:
        worker = Worker(WorkerConfig(burst=True, block_timeout=0.1, name="inproc"))
        worker.tasks = registry.tasks(worker.options.task_modules)
        self.consumer: Consumer = worker.consumer(broker, "inproc.test")

    def step(self) -> None:
        self.consumer.run_once()
        self.consumer.settler.flush()  # outcomes are stored before we look

    def run_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        def stepped() -> Any:
            self.step()
            return predicate()

        return wait_until(stepped, timeout=timeout)

    def close(self) -> None:
        self.consumer.shutdown()
