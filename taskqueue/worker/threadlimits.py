"""Time limits in the threads pool: an exception raised in the task's thread.

SIGALRM reaches only the main thread, so this thread watches every consumer
of a threads pool and, when a task passes its ``soft_timeout`` or
``timeout`` (#144), raises TaskTimeout / TimeLimitExceeded in that task's
thread with ``PyThreadState_SetAsyncExc``. Python delivers it at the
thread's next bytecode: a task in Python code (a loop, short sleeps) stops
at once; one inside a long C call sees it when the call returns. A task
still running ``grace`` seconds past its timeout (it swallowed the
exception, or sits in C) cannot be stopped in place: the timeout is
recorded (retried per its policy), every other consumer hands back what it
holds (those tasks run again: delivery is at least once), and the process
replaces itself with ``os.execv`` of the same command (every descriptor but
stdin/out/err closed first): same pid, fresh interpreter, so a process
manager sees no exit.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

from taskqueue.exceptions import TaskQueueError, TaskTimeout, TimeLimitExceeded
from taskqueue.worker.loop import Consumer
from taskqueue.worker.status import Running
from taskqueue.worker.watchdog import abandon

log = logging.getLogger("taskqueue.worker")
STAGES: dict[int, type[BaseException]] = {1: TaskTimeout, 2: TimeLimitExceeded}
Threads = Callable[[], Sequence[tuple[Consumer, int]]]  # consumers and thread ids


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Ask Python to raise ``exc_type`` in a thread at its next bytecode."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    return bool(done == 1)


class ThreadLimits(threading.Thread):
    """Watches a threads pool's running tasks against their time limits."""

    def __init__(
        self, threads: Threads, *, grace: float = 1.0, interval: float = 0.05
    ) -> None:
        super().__init__(name="taskqueue-threadlimits", daemon=True)
        self.threads, self.grace, self.interval = threads, grace, interval
        self._raised: dict[str, tuple[Running, int]] = {}  # consumer -> (task, stage)
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            now = time.monotonic()
            for consumer, thread_id in self.threads():
                self._check(consumer, thread_id, now)

    def _check(self, consumer: Consumer, thread_id: int, now: float) -> None:
        running = consumer.status.running
        if running is None:
            return
        soft, hard = consumer.executor.limits(running.envelope.task)
        elapsed = now - running.started
        last = self._raised.get(consumer.id)
        stage = last[1] if last is not None and last[0] is running else 0
        if consumer.executor.is_async(running.envelope.task):
            stage = 2  # cancelled by its own event loop: only the process is ours
        if soft and stage < 1 and elapsed > soft:
            stage = self._raise(consumer, running, thread_id=thread_id, stage=1)
        if hard and stage < 2 and elapsed > hard:
            stage = self._raise(consumer, running, thread_id=thread_id, stage=2)
        if hard and elapsed > hard + self.grace:
            self._replace_process(consumer, running)

    def _raise(
        self, consumer: Consumer, running: Running, *, thread_id: int, stage: int
    ) -> int:
        """Raise in the thread, only while it still runs this task (status lock)."""
        with consumer.status.lock:
            if consumer.status.running is running:
                raise_in_thread(thread_id, STAGES[stage])
        self._raised[consumer.id] = (running, stage)
        return stage

    def _replace_process(self, consumer: Consumer, running: Running) -> None:
        with consumer.status.lock:
            if consumer.status.running is not running:
                return
            log.error(
                "Task still running %.1fs past its time limit in a thread; "
                "replacing this process task_id=%s", self.grace, running.envelope.id,
            )  # fmt: skip
            try:
                abandon(consumer, running)
                for other, _ in self.threads():
                    if other is not consumer:
                        other.handback.requeue(other.handback.held(other.config.queues))
            except TaskQueueError:
                log.error("Redis unavailable: recovery will redeliver them")
            finally:
                logging.shutdown()
                # Sockets some libraries leave inheritable (libpq's) would keep
                # their server sessions open in the new program: close them all.
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                # The same command line again (ours, not from a message).
                os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606
