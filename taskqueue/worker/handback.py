"""Handing messages back to the head of their queues, unstarted and in order.

After a stop or a recycle (the unstarted rest of a batch), a database
outage (what it stopped), a consumer that died (everything it held), or a
waiter that had moved messages for us. If Redis is away the messages stay
in the consumer's in-flight list: its queue is marked unsure, and the next
claim there (a reset) hands them back, or recovery does once it is gone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from taskqueue.broker import Broker, Claimed
from taskqueue.exceptions import TaskQueueError

log = logging.getLogger("taskqueue.worker")


class HandBack:
    def __init__(
        self, broker: Broker, consumer_id: str, *, unsure: Callable[[str], None]
    ) -> None:
        self.broker = broker
        self.consumer_id = consumer_id
        self.unsure = unsure

    def requeue(self, rest: Iterable[tuple[str, Claimed]]) -> None:
        """Put these messages back at the head of their queues, in order."""
        by_queue: dict[str, list[bytes]] = defaultdict(list)
        for queue, claimed in rest:
            by_queue[queue].append(claimed.raw)
        for queue, raws in by_queue.items():
            try:
                moved = self.broker.requeue(queue, self.consumer_id, raws)
            except TaskQueueError as exc:
                self.unsure(queue)
                log.warning(
                    "Could not return %d messages of queue=%s: %s",
                    len(raws),
                    queue,
                    exc,
                )
                continue
            log.info(
                "Returned %d unstarted messages to the head of queue=%s", moved, queue
            )

    def held(self, queues: Iterable[str]) -> list[tuple[str, Claimed]]:
        """Everything this consumer holds in flight (skipping queues Redis won't read)."""
        held: list[tuple[str, Claimed]] = []
        for queue in queues:
            try:
                raws = self.broker.in_flight(queue, self.consumer_id)
            except TaskQueueError:
                continue  # recovery hands it back after the worker timeout
            held += [(queue, Claimed(raw, 0)) for raw in raws]
        return held
