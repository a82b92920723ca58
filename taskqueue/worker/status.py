"""Status: what a consumer is doing, read by the threads that watch it.

The consumer's own thread writes it; the heartbeat thread reads it (the
worker info, the per-minute counts) and the watchdog reads it (the task to
time out). Every read and write goes through one lock, so a count is never
lost to a swap and the watchdog never acts on a task that already ended.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from taskqueue.broker import Claimed
from taskqueue.outcomes import MINUTE_COUNTER, Settled
from taskqueue.protocol import Envelope


@dataclass(frozen=True, slots=True)
class Running:
    """The message a consumer is executing right now (read by the watchdog)."""

    queue: str
    claimed: Claimed
    envelope: Envelope
    started: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class Snapshot:
    current: str | None  # the id of the sync task running now
    processed: int
    running: dict[str, object] | None = None  # its path, queue and start (dashboard)


class Status:
    def __init__(self) -> None:
        # Held by the watchdog while it times a task out (watchdog.py): the
        # consumer's ``finished`` waits for it, so no outcome races the time-out.
        self.lock = threading.Lock()
        self._running: Running | None = None
        self._current: str | None = None
        self._processed = 0
        self._counts: Counter[str] = Counter()

    @property
    def running(self) -> Running | None:
        return self._running

    def started(self, running: Running, *, shown: bool = True) -> None:
        """A task started (``shown``: as the worker's current task)."""
        with self.lock:
            self._running = running
            if shown:
                self._current = running.envelope.id

    def finished(self) -> Running | None:
        """The running task ended; returns what was running."""
        with self.lock:
            running, self._running, self._current = self._running, None, None
        return running

    def settled(self, outcome: Settled) -> None:
        """One more outcome collected for the settle (processed, per-minute counts)."""
        with self.lock:
            self._processed += 1
            self._counts[MINUTE_COUNTER[type(outcome)]] += 1

    def snapshot(self) -> Snapshot:
        with self.lock:
            running, current = self._running, self._current
            return Snapshot(current, self._processed, _shown(running, current))

    @property
    def processed(self) -> int:
        return self._processed

    def take_counts(self) -> Counter[str]:
        """The per-minute counts since the last take (the heartbeat flushes them)."""
        with self.lock:
            counts, self._counts = self._counts, Counter()
        return counts


def _shown(running: Running | None, current: str | None) -> dict[str, object] | None:
    """The current task as the dashboard lists it; its start on the wall clock."""
    if running is None or current is None or running.envelope.id != current:
        return None
    since = time.time() - (time.monotonic() - running.started)
    return {"id": current, "task": running.envelope.task, "queue": running.queue,
            "since": round(since, 3)}  # fmt: skip
