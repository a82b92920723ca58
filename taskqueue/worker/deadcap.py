"""Dead-letter caps: DEAD_LETTER_TTL and DEAD_LETTER_MAX, applied after a
settle that wrote dead letters.

Dead letters are rare, so the cap costs nothing until one is written: once a
settle is stored (``Settler.flush`` / ``confirm``) the settler notes the queues
it wrote dead letters to (a string compare per outcome) and one ``deadcap.lua``
call per noted queue trims it by the time index. Noting only stored settles
matters: a settle sent ahead behind the next claim is not stored yet, and a trim
run before it lands would leave its dead letters over the cap until the next
one. So every settle that writes dead letters is followed, on the same worker,
by a trim after it is stored; after a drain (every worker's last settle
confirmed) at most DEAD_LETTER_MAX remain. A failed trim is logged and left to
the next dead letter (it only frees memory; nothing is lost by waiting).
"""

from __future__ import annotations

import logging

from taskqueue.broker import Broker, Settlement
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import TaskQueueError

log = logging.getLogger("taskqueue.worker")
TRIM_LIMIT = 1000  # deadcap.lua drops at most this many per call


class DeadLetterCap:
    def __init__(self, broker: Broker, options: QueueOptions) -> None:
        self.broker = broker
        self.ttl = options.dead_letter_ttl
        self.most = options.dead_letter_max
        self.queues: set[str] = set()  # queues given dead letters since the last trim

    def note(self, queue: str) -> None:
        self.queues.add(queue)

    def note_stored(self, pending: dict[str, list[Settlement]]) -> None:
        """Note the queues a stored settle wrote dead letters to."""
        for queue, items in pending.items():
            if any(item.op == "dead" for item in items):
                self.queues.add(queue)

    def enforce(self) -> None:
        """Trim the noted queues (the settles that wrote there are stored)."""
        if not self.queues:
            return
        queues, self.queues = self.queues, set()
        for queue in queues:
            try:
                gone = self._trim(queue)
            except TaskQueueError as exc:
                log.warning("Could not trim dead letters queue=%s: %s", queue, exc)
                continue
            if gone:
                log.warning(
                    "Dropped %d dead letters over DEAD_LETTER_TTL/MAX queue=%s",
                    gone,
                    queue,
                )

    def _trim(self, queue: str) -> int:
        """Trim until the script drops fewer than its per-call limit."""
        gone = 0
        while True:
            step = self.broker.trim_dead(queue, ttl=self.ttl, most=self.most)
            gone += step
            if step < TRIM_LIMIT:
                return gone
