"""The Redis server's clock, as the worker sees it between two claims.

Result times (started, finished) must agree across hosts: a worker whose
clock runs fast would otherwise write a ``finished_at`` in the future. Every
claim returns the server's time; the worker keeps the offset from its own
monotonic clock and reads times through it (no extra round trip).
"""

from __future__ import annotations

import time


class ServerClock:
    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()  # until the first claim

    def sync(self, server_now: float) -> None:
        """Take the server's time, as a claim just returned it."""
        self._offset = server_now - time.monotonic()

    def now(self) -> float:
        """Unix seconds on the server's clock."""
        return time.monotonic() + self._offset
