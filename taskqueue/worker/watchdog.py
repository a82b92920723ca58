"""Watchdog: the hard time limit of prefork children, and what a time-out leaves.

SIGALRM raises TimeLimitExceeded inside a task, which stops ordinary Python
code. A task that swallows that exception, or sits in a C call that never
returns, is not stopped by it. In a prefork child this thread notices the
task is still running ``grace`` seconds past its limit, records it as timed
out, hands back the rest of the batch and ends the process; the supervisor
starts a fresh child. (The solo pool has only the SIGALRM limit: there is
no supervisor to replace it. The threads pool has its own: threadlimits.py.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from taskqueue.broker import Claimed
from taskqueue.exceptions import TaskQueueError
from taskqueue.outcomes import Settled
from taskqueue.worker import observe, tasklog
from taskqueue.worker.cancels import cancelled_outcome, exit_terminated
from taskqueue.worker.deadline import Overdue
from taskqueue.worker.loop import Consumer
from taskqueue.worker.status import Running

log = logging.getLogger("taskqueue.worker")
TIMED_OUT = 76  # a child's exit code after the watchdog stopped a task


class Watchdog(threading.Thread):
    def __init__(
        self, consumer: Consumer, *, grace: float = 1.0, interval: float = 0.2
    ) -> None:
        super().__init__(name="taskqueue-watchdog", daemon=True)
        self.consumer = consumer
        self.grace = grace
        self.interval = interval
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            running = self.consumer.status.running
            if running is None:
                continue
            limit = self.consumer.executor.time_limit(running.envelope.task)
            if limit and time.monotonic() - running.started > limit + self.grace:
                self._stop_child(running, limit)

    def _stop_child(self, running: Running, limit: float) -> None:
        """Abandon the task we looked at, unless it finished meanwhile.

        Under the consumer's status lock: the consumer takes it as a task
        ends, so it cannot record this task's outcome (or start the next
        task) while we record the time-out; and we never abandon a task we
        did not time.
        """
        with self.consumer.status.lock:
            if self.consumer.status.running is not running:
                return
            task_id = running.envelope.id
            log.error(
                "Task still running %.1fs past its %gs time limit, replacing this "
                "child task_id=%s", self.grace, limit, task_id,
            )  # fmt: skip
            try:
                abandon(self.consumer, running)
            except TaskQueueError:
                log.error(
                    "Redis unavailable: recovery will redeliver task_id=%s", task_id
                )
            finally:
                observe.flush()  # the timed-out task's Sentry event: os._exit skips atexit
                os._exit(TIMED_OUT)


def abandon(
    consumer: Consumer, running: Running, outcome: Settled | None = None
) -> None:
    """Give up on a task past its hard time limit (the watchdog calls this,
    holding the status lock while the consumer's thread is in the task).

    Records it as timed out (retried per policy), stores what the batch
    already finished, and hands back its unstarted rest; the process
    then exits and the prefork supervisor replaces it.
    """
    if consumer.deadlines is not None:
        consumer.deadlines.clear()  # the supervisor need not step in as well
    if outcome is None:
        duration = time.monotonic() - running.started
        outcome = consumer.executor.timed_out(running.envelope, duration)
    tasklog.outcome(outcome)
    consumer.settler.add(running.queue, running.claimed.raw, outcome)
    consumer.settler.flush()
    consumer.handback.requeue(consumer.rest)


def abandon_killed(consumer: Consumer, overdue: Overdue) -> None:
    """Stand in for a consumer its supervisor killed past a task's deadline.

    ``consumer`` is a stand-in with the dead one's id, built in the
    supervisor: records that task as timed out (retried per its policy) and
    hands back everything else the dead consumer held, at once.
    """
    running, rest = None, []
    for name in consumer.config.queues:
        for raw in consumer.broker.in_flight(name, consumer.id):
            envelope = consumer.intake.runnable(name, raw)
            if (
                running is None
                and name == overdue.queue
                and envelope
                and envelope.id == overdue.task_id
            ):
                running = Running(name, Claimed(raw, 0), envelope, overdue.started)
            else:
                rest.append((name, Claimed(raw, 0)))
    consumer.rest = rest
    if running is None:
        consumer.handback.requeue(rest)
    else:
        abandon(consumer, running)
    consumer.shutdown()


def terminator(consumer: Consumer) -> Callable[[str], None]:
    """What a prefork child's cancel watch calls for a ``terminate`` cancel.

    If the child is running that task: records it FAILED/TaskCancelled,
    stores the batch's finished outcomes, hands back the unstarted rest and
    ends the process (the supervisor starts a fresh child), as a time-out
    does. Under the status lock, so the task cannot finish meanwhile.
    """

    def terminate(task_id: str) -> None:
        with consumer.status.lock:
            running = consumer.status.running
            if running is None or running.envelope.id != task_id:
                return
            log.warning("Task cancelled, terminating this child task_id=%s", task_id)
            ran = time.monotonic() - running.started
            try:
                abandon(consumer, running, cancelled_outcome(running.envelope, ran=ran))
            except TaskQueueError:
                log.error(
                    "Redis unavailable: recovery will redeliver task_id=%s", task_id
                )
            finally:
                observe.flush()
                exit_terminated()

    return terminate
