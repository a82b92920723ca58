"""RUNNING marks for the tasks of a batch that start after a slow one.

The claim marks the first task of a batch RUNNING. When tasks are quick the
rest settle within milliseconds, so marking each would only cost a round
trip apiece (and halve throughput); after a slow task the round trip is noise.
"""

from __future__ import annotations

import logging

from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError

log = logging.getLogger("taskqueue.worker")
SLOW_TASK = 0.05  # seconds: after a task this long, mark the next one RUNNING


class RunningMarks:
    def __init__(self, broker: Broker, consumer_id: str) -> None:
        self.broker = broker
        self.consumer_id = consumer_id
        self.slow = False

    def batch_claimed(self) -> None:
        self.slow = False  # the claim marked the first task RUNNING

    def task_ended(self, duration: float) -> None:
        self.slow = duration >= SLOW_TASK

    def task_starting(self, queue: str, task_id: str, raw: bytes) -> None:
        """Mark it RUNNING if the task before it was slow (best effort)."""
        if not self.slow:
            return
        try:
            self.broker.mark_running(queue, self.consumer_id, task_id=task_id, raw=raw)
        except TaskQueueError:
            log.debug("could not mark task_id=%s RUNNING: Redis unavailable", task_id)
