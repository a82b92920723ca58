"""One backoff function for task retries and for reconnecting to Redis."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(n-1))].

    Full jitter spreads the retries of many failing tasks (or many workers
    reconnecting after an outage) instead of sending them back in waves.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 (jitter, not security)
