"""The consumer status that the heartbeat and the watchdog read from other threads."""

from __future__ import annotations

import threading

from taskqueue.outcomes import Succeeded
from taskqueue.protocol import Envelope
from taskqueue.worker.status import Status


def test_counts_taken_while_a_consumer_adds_to_them_are_never_lost():
    """The heartbeat thread takes the per-minute counts while the consumer
    thread adds to them: every outcome is in exactly one take."""
    status = Status()
    outcome = Succeeded(
        Envelope(id="c", task="t", args=[], kwargs={}, queue="q"), b"null", 0.0
    )
    taken: list[int] = []
    done = threading.Event()

    def heartbeat() -> None:
        while not done.is_set():
            taken.append(sum(status.take_counts().values()))

    thread = threading.Thread(target=heartbeat)
    thread.start()
    for _ in range(50_000):
        status.settled(outcome)
    done.set()
    thread.join()
    taken.append(sum(status.take_counts().values()))

    assert sum(taken) == 50_000
    assert status.snapshot().processed == 50_000
