"""Dead-letter caps: DEAD_LETTER_TTL and DEAD_LETTER_MAX, applied after a
settle that wrote dead letters.

Dead letters are rare, so the cap costs nothing until one is written: the
settler notes the queue (a string compare per outcome), and once the settle
is stored one ``deadcap.lua`` call per noted queue trims it by the time index.
A failed trim is logged and left to the next dead letter (it only frees
memory; nothing is lost by waiting).
"""

from __future__ import annotations

import logging

from taskqueue.broker import Broker
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import TaskQueueError

log = logging.getLogger("taskqueue.worker")


class DeadLetterCap:
    def __init__(self, broker: Broker, options: QueueOptions) -> None:
        self.broker = broker
        self.ttl = options.dead_letter_ttl
        self.most = options.dead_letter_max
        self.queues: set[str] = set()  # queues given dead letters since the last trim

    def note(self, queue: str) -> None:
        self.queues.add(queue)

    def enforce(self) -> None:
        """Trim the noted queues (the settles that wrote there are stored)."""
        if not self.queues:
            return
        queues, self.queues = self.queues, set()
        for queue in queues:
            try:
                gone = self.broker.trim_dead(queue, ttl=self.ttl, most=self.most)
            except TaskQueueError as exc:
                log.warning("Could not trim dead letters queue=%s: %s", queue, exc)
                continue
            if gone:
                log.warning(
                    "Dropped %d dead letters over DEAD_LETTER_TTL/MAX queue=%s",
                    gone,
                    queue,
                )
