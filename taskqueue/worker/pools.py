"""Pools: how many consumers a worker runs, and where.

- solo: one consumer in the main thread (the debugging pool; time limits via SIGALRM).
- threads: N consumers in N threads of one process, for I/O-bound tasks.
- prefork: a supervisor and N child processes, each a solo consumer; a child
  that dies is replaced (its in-flight is recovered by the others), and
  children are recycled after --max-tasks-per-child tasks.

Every consumer has its own in-flight lists, so pools only multiply consumers.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Sequence

from django.db import connections

from taskqueue.worker import observe
from taskqueue.worker.loop import Consumer
from taskqueue.worker.stop import StopFlag, install

log = logging.getLogger("taskqueue.worker")
PR_SET_PDEATHSIG = 1  # prctl(2)
RECYCLED = 75  # a child's exit code when it asks to be replaced (max tasks/memory)
ConsumerFactory = Callable[[str], Consumer]


def consumer_id(worker_name: str) -> str:
    """Unique per start, so a restarted worker never inherits a stale in-flight list."""
    return f"{worker_name}.{secrets.token_hex(3)}"


def _stop_with(supervisor: int) -> None:
    """Have the kernel send this child SIGTERM when its supervisor dies.

    A supervisor killed with SIGKILL cannot stop its children; without this
    they would run on as orphans. SIGTERM gives them the graceful stop
    (finish the task, hand back the rest). Linux only; elsewhere a child
    outlives a killed supervisor until it is stopped itself.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class SoloPool:
    def __init__(self, factory: ConsumerFactory, worker_name: str) -> None:
        self.consumers = [factory(consumer_id(worker_name))]

    def run(self) -> int:
        return self.consumers[0].run()


class ThreadPool:
    def __init__(self, factory: ConsumerFactory, worker_name: str, size: int) -> None:
        self.consumers = [factory(consumer_id(worker_name)) for _ in range(size)]

    def run(self) -> int:
        threads = [
            threading.Thread(target=c.run, name=f"consumer-{i}", daemon=True)
            for i, c in enumerate(self.consumers)
        ]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
        return 0


class PreforkPool:
    """A supervisor that keeps N solo children running until asked to stop."""

    def __init__(
        self,
        run_child: Callable[[], int],
        size: int,
        stop: StopFlag,
        *,
        burst: bool,
        grace: float,
    ) -> None:
        self.grace = grace
        self.run_child = run_child
        self.size = size
        self.stop = stop
        self.burst = burst
        self.children: dict[int, float] = {}

    @property
    def consumers(self) -> Sequence[Consumer]:
        return []

    def run(self) -> int:
        connections.close_all()  # children must not share the parent's DB sockets
        for _ in range(self.size):
            self._spawn()
        while self.children:
            if self.stop.requested:
                self._forward(signal.SIGTERM)
                self._reap(block=True)
                break
            for code in self._reap(block=False):
                if not self.stop.requested and (code != 0 or not self.burst):
                    self._spawn()
            self.stop.wait(0.1)
        return 0

    def _spawn(self) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                # Ctrl-C reaches the whole process group; only the supervisor's
                # SIGTERM should start a child's graceful stop.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                install(self.stop, self.grace, signals=(signal.SIGTERM,))
                _stop_with(supervisor)
                code = self.run_child()
            except BaseException:
                log.exception("Child pid=%d crashed", os.getpid())
            finally:
                observe.flush()  # spans and Sentry events: os._exit skips atexit
                os._exit(code)
        self.children[pid] = time.monotonic()
        log.info("Started child pid=%d", pid)

    def kill_children(self) -> None:
        self._forward(signal.SIGKILL)

    def _forward(self, signum: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                self.children.pop(pid, None)

    def _reap(self, *, block: bool) -> list[int]:
        """Exit codes of children that ended (replace them unless a burst is done)."""
        codes: list[int] = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                break
            if pid == 0:
                break
            self.children.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            codes.append(code)
            if code not in (0, RECYCLED):
                log.warning("Child pid=%d exited with %d; replacing it", pid, code)
        return codes
