"""Pools: how many consumers a worker runs, and where.

- solo: one consumer in the main thread (the debugging pool; time limits via SIGALRM).
- threads: N consumers in N threads of one process, for I/O-bound tasks.
- prefork: a supervisor and N child processes, each a solo consumer; a child
  that dies is replaced (its in-flight is recovered by the others), and
  children are recycled after --max-tasks-per-child tasks.

Every consumer has its own in-flight lists, so pools only multiply consumers.
"""

from __future__ import annotations

import contextlib
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
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.deadline import DeadlineSlot, Overdue
from taskqueue.worker.loop import Consumer
from taskqueue.worker.stop import StopFlag, install

log = logging.getLogger("taskqueue.worker")
PR_SET_PDEATHSIG = 1  # prctl(2)
RECYCLED = 75  # a child's exit code when it asks to be replaced (max tasks/memory)
CRASHED = 70  # EX_SOFTWARE: the threads pool gave up replacing dying consumers
DEATHS_ALLOWED, DEATH_WINDOW = 3, 60.0  # per consumer slot, within seconds
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
    """N consumers in N threads of one process.

    A consumer whose thread dies (an error outside any task) hands its
    in-flight messages back at once and is replaced by a new one; the
    heartbeat reads ``consumers``, so it never stamps a dead one. A pool
    whose consumers keep dying gives up with a non-zero exit, so that a
    supervisor restarts the process.
    """

    def __init__(self, factory: ConsumerFactory, worker_name: str, size: int) -> None:
        self.factory, self.worker_name = factory, worker_name
        self.consumers = [factory(consumer_id(worker_name)) for _ in range(size)]
        self._died: set[int] = set()
        self._deaths: list[float] = []
        self._thread_ids: dict[int, int] = {}  # consumer index -> thread id

    def threads(self) -> list[tuple[Consumer, int]]:
        """Each running consumer and its thread's id (for threadlimits.py)."""
        return [(self.consumers[i], tid) for i, tid in list(self._thread_ids.items())]

    def run(self) -> int:
        threads = {i: self._start(i) for i in range(len(self.consumers))}
        code = 0
        while threads:
            for index, thread in list(threads.items()):
                thread.join(timeout=0.2)
                if thread.is_alive():
                    continue
                del threads[index]
                if index not in self._died:
                    continue  # it stopped as asked (or drained, with --burst)
                if not self._replace(index):
                    code = CRASHED
                elif not self.consumers[index].stop.requested:
                    threads[index] = self._start(index)
        return code

    def _start(self, index: int) -> threading.Thread:
        self._died.discard(index)
        thread = threading.Thread(
            target=self._run_consumer, args=(index,), name=f"consumer-{index}",
            daemon=True,
        )  # fmt: skip
        thread.start()
        return thread

    def _run_consumer(self, index: int) -> None:
        consumer = self.consumers[index]
        self._thread_ids[index] = threading.get_ident()
        try:
            consumer.run()
        except BaseException:
            log.exception("Consumer %s died; handing back its messages", consumer.id)
            self._died.add(index)
        finally:
            self._thread_ids.pop(index, None)

    def _replace(self, index: int) -> bool:
        """Hand the dead consumer's messages back and start another (False: give up)."""
        dead = self.consumers[index]
        dead.hand_back()
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < DEATH_WINDOW] + [now]
        if len(self._deaths) > DEATHS_ALLOWED * len(self.consumers):
            log.error("Consumers keep dying; exiting so that the process is restarted")
            dead.stop.set()  # the others stop too; the exit code says why
            return False
        self.consumers[index] = self.factory(consumer_id(self.worker_name))
        log.warning(
            "Started consumer %s in place of %s", self.consumers[index].id, dead.id
        )
        return True


class PreforkPool:
    """A supervisor that keeps N solo children running until asked to stop."""

    def __init__(
        self,
        run_child: Callable[[DeadlineSlot], int],
        config: WorkerConfig,
        stop: StopFlag,
        *,
        on_overdue: Callable[[Overdue], None] | None = None,
    ) -> None:
        self.run_child = run_child
        self.config = config  # concurrency: how many children; burst; grace
        self.stop = stop
        self.on_overdue = on_overdue
        self.children: dict[int, float] = {}
        self.slots: dict[int, DeadlineSlot] = {}

    @property
    def consumers(self) -> Sequence[Consumer]:
        return []

    def run(self) -> int:
        connections.close_all()  # children must not share the parent's DB sockets
        for _ in range(self.config.concurrency):
            self._spawn()
        while self.children:
            if self.stop.requested:
                self._forward(signal.SIGTERM)
                self._reap(block=True)
                break
            self._kill_overdue()
            for code in self._reap(block=False):
                if not self.stop.requested and (code != 0 or not self.config.burst):
                    self._spawn()
            self.stop.wait(0.1)
        return 0

    def _kill_overdue(self) -> None:
        """SIGKILL a child past a task's hard deadline; record the task for it."""
        now = time.monotonic()
        for pid, slot in list(self.slots.items()):
            overdue = slot.overdue(now)
            if overdue is None:
                continue
            log.error(
                "Child pid=%d is past the time limit of task_id=%s and does not "
                "answer: killing it", pid, overdue.task_id,
            )  # fmt: skip
            slot.clear()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if self.on_overdue is not None:
                self.on_overdue(overdue)

    def _spawn(self) -> None:
        supervisor = os.getpid()
        slot = DeadlineSlot()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                # Ctrl-C reaches the whole process group; only the supervisor's
                # SIGTERM should start a child's graceful stop.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                install(
                    self.stop,
                    self.config.grace,
                    signals=(signal.SIGTERM,),
                    announce=False,
                )
                _stop_with(supervisor)
                code = self.run_child(slot)
            except BaseException:
                log.exception("Child pid=%d crashed", os.getpid())
            finally:
                observe.flush()  # spans and Sentry events: os._exit skips atexit
                os._exit(code)
        self.children[pid] = time.monotonic()
        self.slots[pid] = slot
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
            self.slots.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            codes.append(code)
            if code not in (0, RECYCLED):
                log.warning("Child pid=%d exited with %d; replacing it", pid, code)
        return codes
