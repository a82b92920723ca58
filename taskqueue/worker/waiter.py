"""Waiter: block on several queues at once.

BLMOVE takes one source list, and each queue lives in its own hash slot
(possibly on its own cluster node), so no single command can wait on all of
a consumer's queues. With several queues the consumer starts one daemon
thread per queue; while the consumer waits, each thread blocks with BLMOVE
into the consumer's in-flight list of its queue and hands what arrived to
the consumer. A handed-over message is already in Redis's in-flight record,
so a crash loses nothing; on a graceful stop the consumer hands back
whatever is still waiting here.

A stop wakes the consumer's wait at once (a None put into the arrivals),
and the threads end: their BLMOVEs are cut short by the broker's ``wake()``
(see taskqueue/blocking.py), so an idle worker on many queues stops as
quickly as one on a single queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Collection

from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.worker")
Arrival = tuple[str, bytes]  # (queue name, raw message now in our in-flight list)
WOKEN = None  # put into the arrivals on a stop: the consumer's wait ends now


class Waiter:
    def __init__(
        self, broker: Broker, consumer_id: str, queues: tuple[str, ...], *,
        timeout: float, stop: StopFlag, paused: Collection[str] = (),
    ) -> None:  # fmt: skip
        self.broker = broker
        self.paused = paused  # queues not to block on (the fetcher's PauseState)
        self.consumer_id = consumer_id
        self.timeout = timeout
        self.stop = stop
        self._arrivals: queue.SimpleQueue[Arrival | None] = queue.SimpleQueue()
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
        stop.on_stop(lambda: self._arrivals.put(WOKEN), name="wake-waiter")

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
        if self.stop.requested:
            return None
        self._waiting.set()
        try:
            return self._arrivals.get(timeout=timeout)  # WOKEN (None) on a stop
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
        self._waiting.set()  # threads parked on it see _closed at once
        for thread in self._threads:
            thread.join(timeout=self.timeout + 2)
        left: list[Arrival] = []
        while True:
            try:
                arrival = self._arrivals.get_nowait()
            except queue.Empty:
                return left
            if arrival is not WOKEN:
                left.append(arrival)

    def _watch(self, name: str) -> None:
        while not self._closed.is_set() and not self.stop.requested:
            if not self._waiting.wait(0.2):
                continue  # the consumer is busy: do not take more than it can run
            if self._closed.is_set():
                break
            if name in self.paused:
                self._closed.wait(0.2)
                continue
            try:
                raw = self.broker.block(name, self.consumer_id, self.timeout)
            except TaskQueueError as exc:
                self._errors.put(exc)
                self._closed.wait(1.0)
                continue
            if raw is not None:
                self._arrivals.put((name, raw))
