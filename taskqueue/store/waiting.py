"""Waiting on a task without polling: count in, block on a token, count out.

A waiter counts itself in the queue's ``{Q}:waiting`` hash and reads the
task's status in one script (``wait.lua``), then blocks in ``BLPOP`` on
``{Q}:waiting:<id>``. The settle pushes one token per counted waiter there
when the task's record becomes final (``settle_notify.lua``), in the same
atomic step that writes the record; so the token never comes before the
result, and a settle before the count is seen by the status read.
"""

from __future__ import annotations

from taskqueue.store.core import StoreCore
from taskqueue.store.errors import translate_errors

MAX_BLOCK = 10.0  # seconds of one BLPOP: well under the client's socket timeout


class Waiting(StoreCore):
    """The waiter's side of ``wait.lua`` and ``settle_notify.lua``."""

    @translate_errors
    def count_waiter(self, queue: str, task_id: str, *, delta: int) -> str:
        """Count a waiter in (+1) or out (-1); the task's stored status ('' if none)."""
        k = self.keys(queue)
        keys = [k.waiting, k.result(task_id), k.ready, k.results_index]
        status = self.scripts.call("wait", keys, [task_id, str(delta)])
        return status.decode() if isinstance(status, bytes) else str(status)

    @translate_errors
    def block_on_task(self, queue: str, task_id: str, seconds: float) -> bool:
        """Block until the settle wakes a waiter on this task, at most ``seconds``.

        True if a token came. Callers count themselves in first and read the
        record again after: a token only says "look now".
        """
        seconds = min(max(seconds, 0.01), MAX_BLOCK)
        key = self.keys(queue).waiting_for(task_id)
        return self.client.blpop([key], timeout=seconds) is not None
