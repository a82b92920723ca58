"""Waiter: block on several queues at once.

BLMOVE takes one source list, and each queue lives in its own hash slot
(possibly on its own cluster node), so no single command can wait on all of
a consumer's queues. With several queues the consumer starts one daemon
thread per queue; while the consumer waits, each thread blocks with BLMOVE
into the consumer's in-flight list of its queue and hands what arrived to
the consumer. A handed-over message is already in Redis's in-flight record,
so a crash loses nothing; on a graceful stop the consumer hands back
whatever is still waiting here.
"""

from __future__ import annotations

import logging
import queue
import threading

from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.worker")
Arrival = tuple[str, bytes]  # (queue name, raw message now in our in-flight list)


class Waiter:
    def __init__(
        self, broker: Broker, consumer_id: str, queues: tuple[str, ...], *,
        timeout: float, stop: StopFlag,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.consumer_id = consumer_id
        self.queues = queues
        self.timeout = timeout
        self.stop = stop
        self._arrivals: queue.SimpleQueue[Arrival] = queue.SimpleQueue()
        self._errors: queue.SimpleQueue[TaskQueueError] = queue.SimpleQueue()
        self._waiting = threading.Event()
        self._closed = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._watch, args=(name,), daemon=True, name=f"wait-{name}"
            )
            for name in queues
        ]
        for thread in self._threads:
            thread.start()

    def take(self) -> Arrival | None:
        """An arrival that is already here, without waiting.

        A thread's BLMOVE can land after the consumer stopped waiting and
        went on claiming; the consumer takes such a hand-over before its
        next claim, so it never sits in flight behind newer messages.
        """
        try:
            return self._arrivals.get_nowait()
        except queue.Empty:
            return None

    def wait(self, timeout: float) -> Arrival | None:
        """The next arrival within timeout, or None; BrokerUnavailable if Redis is down."""
        try:
            return self._arrivals.get_nowait()
        except queue.Empty:
            pass
        self._waiting.set()
        try:
            return self._arrivals.get(timeout=timeout)
        except queue.Empty:
            try:
                raise self._errors.get_nowait()
            except queue.Empty:
                return None
        finally:
            self._waiting.clear()

    def close(self) -> list[Arrival]:
        """Stop the threads and return what arrived but was never taken."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 2)
        left = []
        while True:
            try:
                left.append(self._arrivals.get_nowait())
            except queue.Empty:
                return left

    def _watch(self, name: str) -> None:
        while not self._closed.is_set():
            if not self._waiting.wait(0.2):
                continue  # the consumer is busy: do not take more than it can run
            try:
                raw = self.broker.block(name, self.consumer_id, self.timeout)
            except TaskQueueError as exc:
                self._errors.put(exc)
                self._closed.wait(1.0)
                continue
            if raw is not None:
                self._arrivals.put((name, raw))
