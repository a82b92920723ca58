"""Heartbeat: proves the worker's consumers alive and publishes worker info.

Runs in a daemon thread so that a long task never makes its worker look
dead. Each beat: every consumer's score in every queue's consumers zset (on
the server's clock; recovery compares against it), the worker's info in the
workers hash (for queuestats and the dashboard), and the per-minute counters.

``remove()`` is the last word: it runs after the consumers deregistered,
and a beat in progress then (the thread is a daemon, and a beat is several
round trips) must not write the worker back. Beats and ``remove()`` take
one lock, and no beat writes after ``remove()``; ``remove()`` also drops
the consumers again, in case a beat re-added one after it deregistered.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import orjson

from taskqueue import metrics
from taskqueue.broker import Broker
from taskqueue.exceptions import TaskQueueError
from taskqueue.worker.loop import Consumer

log = logging.getLogger("taskqueue.worker")
PRUNE_EVERY = 30  # beats


class Heartbeat(threading.Thread):
    def __init__(
        self, *, broker: Broker, name: str, queues: Sequence[str],
        consumers: Callable[[], Sequence[Consumer]], interval: float, extra: dict[str, object],
    ) -> None:  # fmt: skip
        super().__init__(name="taskqueue-heartbeat", daemon=True)
        self.broker = broker
        self.worker_name = name
        self.queues = queues
        self.consumers = consumers
        self.interval = interval
        self.extra = extra
        self.started_at = time.time()
        self.beats = 0
        # A dead worker stays visible (as silent) for a while, then is forgotten.
        self.forget_after = max(300.0, 10 * interval * 3)
        self._done = threading.Event()
        self._lock = threading.Lock()  # one beat or remove() at a time
        self._removed = False
        self.last_beat = time.monotonic()  # of the last beat Redis took

    def run(self) -> None:
        """Beat until stopped; no error ends this thread (a worker without a
        heartbeat is presumed dead and its running tasks run twice)."""
        while not self._done.wait(self.interval):
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat failed; trying again")

    def beating(self) -> bool:
        """Whether Redis took a beat recently enough that nobody presumes us dead.

        Consumers claim nothing while it is not (see Consumer.fetch): what
        they claimed could be recovered by others and run twice.
        """
        return time.monotonic() - self.last_beat < self.interval * 2

    def stop(self) -> None:
        """No more beats; waits (briefly) for one in progress to finish."""
        self._done.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=self.interval + 1)

    def beat(self) -> None:
        with self._lock:
            if not self._removed:
                self._beat()

    def _beat(self) -> None:
        consumers = list(self.consumers())
        try:
            for consumer in consumers:
                self.broker.heartbeat(self.queues, consumer.id)
            self.last_beat = time.monotonic()  # what recovery looks at is written
            self.broker.set_worker(self.worker_name, self.info(consumers))
            self.flush_counts(consumers)
            self.beats += 1
            if self.beats % PRUNE_EVERY == 1:
                self.prune()
        except TaskQueueError:
            log.debug("heartbeat skipped: Redis unavailable")

    def prune(self) -> None:
        """Drop the info of workers silent for long (crashed ones never remove theirs)."""
        now = time.time()
        stale = []
        for name, raw in self.broker.workers().items():
            try:
                seen = float(orjson.loads(raw)["heartbeat_at"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                seen = 0.0
            if now - seen > self.forget_after:
                stale.append(name)
        for name in stale:
            self.broker.set_worker(name, None)
        if stale:
            log.info(
                "Forgot %d workers silent for over %.0fs", len(stale), self.forget_after
            )

    def info(self, consumers: Sequence[Consumer]) -> bytes:
        snapshots = [c.status.snapshot() for c in consumers]
        return orjson.dumps(
            {
                "name": self.worker_name,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "queues": list(self.queues),
                "started_at": self.started_at,
                "heartbeat_at": time.time(),
                "current": [s.current for s in snapshots if s.current],
                "processed": sum(s.processed for s in snapshots),
                "consumers": [c.id for c in consumers],
                "running": [s.running for s in snapshots if s.running],
                **self.extra,
            }
        )

    def flush_counts(self, consumers: Sequence[Consumer] | None = None) -> None:
        """The per-minute counters (dashboard) and the fleet totals (metrics)."""
        self._flush_totals()
        total: Counter[str] = Counter()
        for consumer in self.consumers() if consumers is None else consumers:
            total.update(consumer.status.take_counts())
        if not total:
            return
        try:
            self.broker.count_minute(int(time.time() // 60), dict(total))
        except TaskQueueError:
            log.debug("per-minute counts dropped: Redis unavailable")

    def _flush_totals(self) -> None:
        counts = metrics.fleet_counts()
        if not counts:
            return
        try:
            self.broker.add_task_totals(counts)
        except TaskQueueError:
            metrics.give_back_fleet_counts(counts)  # added by the next beat

    def remove(self) -> None:
        """Deregister for good: worker info gone, consumers with nothing held dropped."""
        with self._lock:
            self._removed = True
            try:
                for consumer in self.consumers():
                    self.broker.deregister(self.queues, consumer.id)
                self.broker.set_worker(self.worker_name, None)
            except TaskQueueError:
                log.warning("Could not remove worker info: Redis unavailable")


@contextmanager
def keeping_alive(heartbeat: Heartbeat) -> Iterator[Heartbeat]:
    """A heartbeat's life around a process's consumers.

    Starts with a beat (so a fresh worker is alive before its first claim),
    ends with no more beats, the last minute's counts, and the worker
    deregistered: in that order, so nothing writes it back after it left.
    """
    heartbeat.beat()
    heartbeat.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
        heartbeat.flush_counts()
        heartbeat.remove()
