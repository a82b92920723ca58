"""The alarm-based time limits of a task run in a main thread (#144).

Solo and prefork consumers run tasks in their process's main thread, where
SIGALRM can interrupt them: at the soft timeout ``TaskTimeout`` is raised
inside the task, at the hard one ``TimeLimitExceeded``. The threads pool
raises the same exceptions in its threads (threadlimits.py); an async task
is cancelled at its soft timeout, or its hard one if it has none.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from taskqueue.exceptions import TaskTimeout, TimeLimitExceeded
from taskqueue.policy import TaskPolicy


@contextmanager
def time_limit(policy: TaskPolicy) -> Iterator[None]:
    """SIGALRM-based limits (#144); only the main thread can receive them.

    At the soft timeout TaskTimeout is raised inside the task and the
    alarm is set again for the hard one, which raises TimeLimitExceeded
    (a TaskTimeout). Solo and prefork consumers run in a main thread;
    the threads pool raises them in its threads (threadlimits.py).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    soft, hard = policy.soft_timeout, policy.time_limit
    soft_pending = [soft is not None]

    def expire(signum: int, frame: FrameType | None) -> None:
        if soft_pending[0] and soft is not None:
            soft_pending[0] = False
            if hard:
                signal.setitimer(signal.ITIMER_REAL, hard - soft)
            raise TaskTimeout(f"task ran past its soft timeout of {soft:g}s")
        raise TimeLimitExceeded(f"task ran over its {hard or 0:g}s time limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, soft or hard or 0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def async_limit(policy: TaskPolicy) -> float | None:
    """When an async task is cancelled: its soft timeout if it has one, else its
    timeout (a coroutine can only be stopped by cancelling it)."""
    return policy.soft_timeout or policy.time_limit


def timeout_error(policy: TaskPolicy) -> TaskTimeout:
    """The exception an async task stopped at its limit ends with."""
    soft, hard = policy.soft_timeout, policy.time_limit
    if soft:
        return TaskTimeout(f"task ran past its soft timeout of {soft:g}s")
    return TimeLimitExceeded(f"task ran over its {hard or 0:g}s time limit")
