"""Hard time limits that the prefork supervisor enforces from outside a child.

A child's watchdog thread stops a task past its limit, but only while the
child's interpreter runs: C code that holds the GIL (a pathological regex,
say) blocks the watchdog, SIGALRM and the heartbeat alike. So each child
publishes, in a page it shares with its supervisor, which task it runs and
by when it must be done; the supervisor SIGKILLs a child past that
deadline, records the task as timed out in its place and replaces it.
"""

from __future__ import annotations

import mmap
import struct
import time
from dataclasses import dataclass

BACKSTOP = 2.0  # seconds after the watchdog's own deadline (limit + its grace)
_LAYOUT = struct.Struct(
    "dd64s64s64s"
)  # deadline, start (monotonic), consumer, queue, task


@dataclass(frozen=True, slots=True)
class Overdue:
    consumer: str
    queue: str
    task_id: str
    started: float  # monotonic


class DeadlineSlot:
    """One child's page: written by the child, read by the supervisor.

    The deadline is written last and cleared first, so a reader sees either
    no task or a whole one (CLOCK_MONOTONIC is shared by all processes).
    """

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, _LAYOUT.size)

    def publish(self, *, consumer: str, queue: str, task_id: str, limit: float) -> None:
        now = time.monotonic()
        packed = _LAYOUT.pack(
            0.0, now, consumer.encode(), queue.encode(), task_id.encode()
        )
        self._page[8:] = packed[8:]
        struct.pack_into("d", self._page, 0, now + limit + BACKSTOP)

    def clear(self) -> None:
        struct.pack_into("d", self._page, 0, 0.0)

    def overdue(self, now: float) -> Overdue | None:
        deadline, started, *names = _LAYOUT.unpack(self._page[:])
        if not deadline or now <= deadline:
            return None
        consumer, queue, task_id = (
            n.rstrip(b"\0").decode(errors="replace") for n in names
        )
        return Overdue(consumer, queue, task_id, started)
