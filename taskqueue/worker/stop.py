"""StopFlag and the signal handlers that set it.

Handlers only set flags. What has to happen at once when a stop is asked
for (waking a consumer blocked in Redis, the "stopping" line) runs in
``on_stop`` threads, which the flag wakes. One deliberate exception: a
second SIGINT (the user pressing Ctrl-C again), or a graceful stop that
outlives its grace period, ends the process at once; whatever it still held
stays in its in-flight list and other workers recover it.

A SIGTERM during a stop does not force anything: supervisors (``make run``,
systemd, Kubernetes, the prefork parent) send SIGTERM to a process that may
already have had the user's Ctrl-C, and that must not cost the clean stop
(tasks finished, messages handed back, the worker deregistered).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("taskqueue.worker")
HARD_EXIT_CODE = 1
HARD_EXIT_CLEANUP = 0.5  # seconds the on_hard_exit callback may take


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: int | None = None  # the signal that asked for the stop

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to seconds; True at once if a stop is requested."""
        return self._event.wait(seconds)

    def on_stop(self, callback: Callable[[], None], *, name: str = "on-stop") -> None:
        """Run callback in a daemon thread of its own as soon as a stop is requested.

        For work a signal handler must not do. Register in the process that
        needs it: a forked child inherits the registrations but not the threads.
        """

        def run() -> None:
            self._event.wait()
            try:
                callback()
            except Exception:  # a failed wake-up only costs the old, slower stop
                log.exception("on-stop callback %s failed", name)

        threading.Thread(target=run, name=name, daemon=True).start()


def install(
    stop: StopFlag,
    grace: float,
    *,
    on_hard_exit: Callable[[], None] | None = None,
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
    announce: bool = True,
) -> None:
    """First signal: graceful stop with a deadline. A second SIGINT (or past it): exit now."""

    def hard_exit() -> None:
        if on_hard_exit is not None:
            _bounded(on_hard_exit, HARD_EXIT_CLEANUP)
        os._exit(HARD_EXIT_CODE)

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            if signum == signal.SIGINT:
                hard_exit()
            return  # SIGTERM while stopping: the stop in progress goes on
        stop.signal = signum
        stop.set()
        timer = threading.Timer(grace, hard_exit)
        timer.daemon = True
        timer.start()

    if announce:
        stop.on_stop(lambda: _announce(stop, grace), name="stop-announce")
    for signum in signals:
        signal.signal(signum, handle)


def _announce(stop: StopFlag, grace: float) -> None:
    name = signal.Signals(stop.signal).name if stop.signal else "request"
    log.info(
        "Worker stopping (Ctrl-C again to force) on %s: running tasks get %gs",
        name,
        grace,
    )


def _bounded(callback: Callable[[], None], seconds: float) -> None:
    """Run callback, but give up on it after seconds (a hard exit must be quick)."""
    thread = threading.Thread(target=callback, name="hard-exit", daemon=True)
    thread.start()
    thread.join(seconds)
