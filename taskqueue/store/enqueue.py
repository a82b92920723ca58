"""Enqueuing: messages in, with their READY entries.

A task's READY state is its entry in the queue's ``ready`` hash (id ->
message) until a worker settles it: one HSET for a whole batch, where a
result hash per task would cost two commands each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskqueue.protocol import WAKE
from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors
from taskqueue.store.wire import Command

CHUNK = 10_000  # messages per HSET/RPUSH of a plain bulk enqueue


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The messages of one enqueue: one task's calls, so one priority and delay.

    Ids and messages in two lists, not a tuple per message: a bulk enqueue
    hands them to HSET and RPUSH as they are.
    """

    ids: list[str]
    raws: list[bytes]
    priority: int = 0
    delay: float = 0.0  # seconds from now; 0 = at once

    def __len__(self) -> int:
        return len(self.ids)


class Enqueuing(StoreCore):
    """Producers' side of a queue."""

    @translate_errors
    def enqueue(self, queue: str, batch: Outgoing) -> None:
        """Push messages with their READY entries.

        Plain messages go out as HSET + RPUSH in one write (``Wire.send``):
        the READY entries first and the messages last, so an interrupted
        send can leave a READY entry without its message, never a message
        without one. Priorities and delays need the script.
        """
        k = self.keys(queue)
        ids, raws = batch.ids, batch.raws
        if self.wire.plain is not None and batch.priority == 0 and batch.delay <= 0:
            commands: list[Command] = []
            for start in range(0, len(ids), CHUNK):
                chunk = raws[start : start + CHUNK]
                pairs: list[Any] = [None] * (2 * len(chunk))
                pairs[::2], pairs[1::2] = ids[start : start + CHUNK], chunk
                commands.append(("HSET", k.ready, *pairs))
                commands.append(("RPUSH", k.pending, *chunk))
            self.wire.send(*commands)
            return
        argv: list[Any] = [WAKE]
        for task_id, raw in zip(ids, raws, strict=True):
            argv += (task_id, batch.priority, batch.delay, raw)
        self.scripts.call("enqueue", [k.pending, k.prio, k.scheduled, k.ready], argv)

    @translate_errors
    def push_raw(self, queue: str, raw: bytes) -> None:
        """RPUSH bytes as they are (tests, benchmarks and old producers do this)."""
        self.client.rpush(self.keys(queue).pending, raw)
