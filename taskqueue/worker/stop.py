"""StopFlag and the signal handlers that set it.

Handlers only set flags (the loop notices within one block timeout), with
one deliberate exception: a second SIGINT/SIGTERM, or a graceful stop that
outlives its grace period, ends the process at once. Whatever it still held
stays in its in-flight list and other workers recover it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)
HARD_EXIT_CODE = 1


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to seconds; True at once if a stop is requested."""
        return self._event.wait(seconds)


def install(
    stop: StopFlag,
    grace: float,
    *,
    on_hard_exit: Callable[[], None] | None = None,
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """First signal: graceful stop with a deadline. Second (or past it): exit now."""

    def hard_exit() -> None:
        if on_hard_exit is not None:
            on_hard_exit()
        os._exit(HARD_EXIT_CODE)

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            hard_exit()
        stop.set()
        timer = threading.Timer(grace, hard_exit)
        timer.daemon = True
        timer.start()

    for signum in signals:
        signal.signal(signum, handle)
