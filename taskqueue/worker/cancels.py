"""The worker's side of cancelling: watch the cancels of our queues, act on them.

Nothing is watched while nothing is cancelled: the watch thread sits in a
pub/sub read on the cancel channel (no command sent), and each claim reply
says whether the queue's cancel hash is non-empty (lua/claim_control.lua).
Once either says something is cancelled, the thread reads the cancel
hashes of our queues every quarter second (one round trip) until they are
empty again, and hands what it read to ``taskqueue.cancellation``, where
the consumer (before starting a task, after running one), running tasks
(``cancel_requested``) and async tasks (their cancel hook) see it. A
``terminate`` cancel of the task a prefork child is running stops that
child the way the watchdog stops an overdue one (watchdog.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from taskqueue import cancellation, results
from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError
from taskqueue.outcomes import Failed, Outcome, Poison
from taskqueue.protocol import Envelope
from taskqueue.store.control import CancelFeed
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.worker")
POLL_EVERY = 0.25  # seconds between reads of the cancel hashes, while armed
TERMINATED = 77  # a prefork child's exit code after a terminate cancel
Terminate = Callable[[str], None]
AnyOutcome = TypeVar("AnyOutcome", bound=Outcome)


class CancelWatch(threading.Thread):
    """One per worker process: keeps ``taskqueue.cancellation`` current."""

    def __init__(self, broker: Broker, queues: tuple[str, ...], stop: StopFlag) -> None:
        super().__init__(name="taskqueue-cancels", daemon=True)
        self.broker = broker
        self.queues = queues
        self.stop = stop
        self.terminate: Terminate | None = None  # prefork child: stop the process
        self._armed = threading.Event()
        self._lock = threading.Lock()  # one poll at a time
        self._feed: CancelFeed | None = None

    def start(self) -> None:
        """Subscribe before the consumers claim anything, then watch in the thread.

        A cancel published before the subscription is heard by no one: a
        task claimed before it is then cancelled would run on.
        """
        self._feed = self.broker.subscribe_cancels()
        try:
            self._feed.subscribe()
        except TaskQueueError:
            self._armed.set()  # Redis is down: read the hashes once it is back
        super().start()

    def note(self, control: str) -> None:
        """A claim's control flags: 'C' means some task of that queue is cancelled.

        Called by the consumer after each claim; the first 'C' reads the
        cancel hashes at once, in the consumer's thread, so that a task
        claimed after its cancel is never started.
        """
        if "C" in control and not self._armed.is_set():
            self._armed.set()
            self.poll()

    def run(self) -> None:
        feed = self._feed or self.broker.subscribe_cancels()
        while not self.stop.requested:
            try:
                announced = feed.next(POLL_EVERY if self._armed.is_set() else 1.0)
            except TaskQueueError:
                self.stop.wait(1.0)  # cancels sent meanwhile were not heard:
                self._armed.set()  # read the hashes once Redis is back
                continue
            if announced is not None:
                self._armed.set()
            if self._armed.is_set():
                self.poll()
        feed.close()

    def poll(self) -> None:
        """Read the cancel hashes; disarm when they are all empty."""
        try:
            with self._lock:
                by_queue = self.broker.cancels(self.queues)
        except TaskQueueError:
            log.debug("could not read the cancelled tasks", exc_info=True)
            return
        cancelled = {i: mode for row in by_queue.values() for i, mode in row.items()}
        if not cancelled:
            self._armed.clear()
        for task_id in cancellation.update(cancelled):
            log.info("Cancel requested task_id=%s", task_id)
        if self.terminate is not None:
            for task_id, mode in cancelled.items():
                if mode == cancellation.TERMINATE:
                    self.terminate(task_id)


def cancelled_outcome(envelope: Envelope, *, ran: float | None) -> Failed:
    """FAILED with TaskCancelled; ``ran`` is how long it ran (None: never started)."""
    message = (
        "cancelled before it started" if ran is None else "cancelled while running"
    )
    error = results.reason_json(cancellation.CANCELLED_CLASS, message)
    return Failed(
        envelope, error, ran or 0.0, f"TaskCancelled: {message}", expected=True
    )


def before_start(envelope: Envelope) -> Failed | None:
    """The outcome of a claimed task cancelled before it started, else None."""
    if cancellation.any_requested() and cancellation.requested(envelope.id):
        return cancelled_outcome(envelope, ran=None)
    return None


def after_run(outcome: AnyOutcome, started: float) -> AnyOutcome | Failed:
    """A task cancelled while it ran is FAILED/TaskCancelled, whatever it returned.

    Not retried: a RetryLater (its CancelledError, say) becomes the failure.
    """
    if not cancellation.any_requested() or isinstance(outcome, Poison):
        return outcome
    envelope = outcome.envelope
    if not cancellation.requested(envelope.id):
        return outcome
    return cancelled_outcome(envelope, ran=time.monotonic() - started)


def exit_terminated() -> None:
    """The end of a prefork child whose running task was terminated."""
    os._exit(TERMINATED)
