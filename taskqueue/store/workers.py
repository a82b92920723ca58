"""The worker registry: consumers' heartbeats per queue, and workers' info.

A consumer is alive in a queue while its score in ``{Q}:consumers`` (the
server's clock) is recent; the claim script recovers the in-flight lists
of those that are not. ``taskqueue:workers`` holds each worker's JSON info
for the dashboard, the API and ``workerhealth``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from taskqueue.keys import workers_key
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors


class Registry(StoreCore):
    """Consumers in ``{Q}:consumers`` and ``{Q}:claims``; workers in their hash."""

    @translate_errors
    def heartbeat(self, queues: Iterable[str], consumer: str) -> None:
        """Mark the consumer alive in each queue, on the server's clock."""
        for queue in queues:
            self.scripts.call("heartbeat", [self.keys(queue).consumers], [consumer])

    @translate_errors
    def deregister(self, queues: Iterable[str], consumer: str) -> None:
        """Forget a consumer that has handed back everything it held."""
        for queue in queues:
            k = self.keys(queue)
            if not self.client.llen(k.inflight(consumer)):
                self.client.zrem(k.consumers, consumer)
                self.client.hdel(k.claims, consumer)

    @translate_errors
    def set_worker(self, name: str, info: bytes | None) -> None:
        if info is None:
            self.client.hdel(workers_key(self.prefix), name)
        else:
            self.client.hset(workers_key(self.prefix), name, info)

    @translate_errors
    def workers(self) -> dict[str, bytes]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(workers_key(self.prefix)))
        return {k.decode(): v for k, v in raw.items()}
