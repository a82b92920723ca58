"""Paused queues, as a consumer sees them: from its own claims' replies.

The claim reads the queue's paused flag in its own slot and answers 'P'
(lua/claim_control.lua), so pausing costs an unpaused queue nothing. While
one of its queues is paused, an idle consumer claims once per
``LOOK_EVERY`` instead of blocking on it, which is how it sees the resume;
its waiter thread for that queue does not BLMOVE (waiter.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("taskqueue.worker")
LOOK_EVERY = 0.5  # seconds between claims of an idle consumer while a queue is paused


class PauseState:
    """Which of a consumer's queues its last claims found paused."""

    def __init__(self) -> None:
        self.queues: set[str] = set()  # shared with the waiter threads (read only)
        self.on_control: Callable[[str], None] | None = None  # the cancel watch

    def claimed(self, queue: str, control: str) -> None:
        """A claim's control flags: 'P' paused, 'C' cancels (for the cancel watch)."""
        if self.on_control is not None and control:
            self.on_control(control)
        if "P" in control:
            if queue not in self.queues:
                log.info("Queue paused, not claiming from it queue=%s", queue)
                self.queues.add(queue)
        elif queue in self.queues:
            log.info("Queue resumed queue=%s", queue)
            self.queues.discard(queue)

    def all_of(self, queues: Iterable[str]) -> bool:
        return bool(self.queues) and all(queue in self.queues for queue in queues)

    def next_look(self) -> list[float]:
        """When to claim again to see a resume (none while nothing is paused)."""
        return [time.monotonic() + LOOK_EVERY] if self.queues else []
