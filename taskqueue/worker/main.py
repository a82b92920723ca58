"""Worker: one runworker process. Builds consumers, runs the pool, stops in order.

Start and stop, per process kind (each step's code is named):

- solo / threads (``_run_in_process``): connect, load the scripts, banner;
  signal handlers (stop.install); the on-stop wake-up of blocked BLMOVEs
  (``wake_on_stop``); the heartbeat's first beat, then its thread
  (heartbeat.keeping_alive); then the consumers claim.
- prefork supervisor (``PreforkPool.run``): the same up to the banner, then
  N children; it forwards SIGTERM to them and reaps them.
- prefork child (``_run_child``): its own connection and wake-up, heartbeat,
  watchdog, one consumer.

A stop (SIGTERM, SIGINT) only sets the StopFlag (stop.py). Then, in order:
the wake-up ends blocking waits at once; each consumer finishes its running
task, settles what it collected, hands the unstarted rest of its batch back
(Consumer.process) and what its waiter threads had moved (Consumer.shutdown),
and deregisters; the pool returns; the watchdog stops; the heartbeat stops,
flushes the last counts and removes the worker (keeping_alive). Past the
grace period, or on a second Ctrl-C, stop.install's hard exit ends the
process instead and recovery hands back what it held.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from typing import Any, cast

import orjson

from taskqueue import __version__, firing, metrics, registry
from taskqueue.backends import backend_for
from taskqueue.blocking import WakeableBroker
from taskqueue.broker import Broker, Durability
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import TaskQueueError
from taskqueue.worker import scheduler
from taskqueue.worker.cancels import CancelWatch
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.deadline import DeadlineSlot, Overdue
from taskqueue.worker.execute import Executor
from taskqueue.worker.heartbeat import Heartbeat, keeping_alive
from taskqueue.worker.loop import UNWATCHED, Consumer, Watched
from taskqueue.worker.pools import RECYCLED, PreforkPool, SoloPool, ThreadPool
from taskqueue.worker.stop import StopFlag, install
from taskqueue.worker.threadlimits import ThreadLimits
from taskqueue.worker.watchdog import Watchdog, abandon_killed, terminator

log = logging.getLogger("taskqueue.worker")
# A prefork supervisor forces its children only once their own grace is over
# and they had this long to hand back their batch, deregister and exit.
CHILD_EXIT_MARGIN = 3.0


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.backend = backend = backend_for(config.backend)
        self.options: QueueOptions = backend.config
        self.name = config.worker_name
        self.stop = StopFlag()
        self.tasks: dict[str, Any] = {}
        self.schedules: tuple[firing.Entry, ...] = ()
        self._heartbeat: Heartbeat | None = None

    def connect(self) -> WakeableBroker:
        broker = WakeableBroker.connect(
            self.options.redis_url,
            embedded_dir=self.options.embedded_dir,
            prefix=self.options.key_prefix,
            durability=Durability.from_options(self.options),
        )
        return cast(WakeableBroker, broker)  # connect() builds a cls

    def wake_on_stop(self, broker: WakeableBroker) -> None:
        """A stop ends this process's blocking waits at once (not after 2 s)."""
        within = self.config.block_timeout
        self.stop.on_stop(lambda: broker.wake(within), name="wake-broker")

    def run(self) -> int:
        """Start, process until stopped (or drained with --burst), exit 0."""
        self.tasks = registry.tasks(self.options.task_modules)
        self.schedules = firing.configured(self.backend)  # ImproperlyConfigured
        metrics.series_only_if_served()  # before forking: children inherit it
        broker = self.connect()
        broker.ping()
        with contextlib.suppress(TaskQueueError):  # refused (OOM): loaded on first use
            broker.load_scripts()
        self.log_banner(broker)
        if self.config.pool == "prefork":
            pool = PreforkPool(
                self._run_child, self.config, self.stop, on_overdue=self._record_overdue
            )
            install(
                self.stop, self.config.grace + CHILD_EXIT_MARGIN,
                on_hard_exit=lambda: self._forget_children(pool, broker),
            )  # fmt: skip
            code = pool.run()
        else:
            install(self.stop, self.config.grace, on_hard_exit=self._forget_self)
            code = self._run_in_process(broker)
        log.info("Worker %s stopped", self.name)
        return code

    def _forget_children(self, pool: PreforkPool, broker: Broker) -> None:
        """Forced exit: kill the children, drop their info and idle consumers (no ghosts).

        A consumer that still holds messages stays registered: recovery hands
        them back once its heartbeat is old (deregister keeps it).
        """
        names = [f"{self.name}/{pid}" for pid in pool.children]
        pool.kill_children()
        try:
            infos = broker.workers()
            for name in names:
                for consumer in _consumer_ids(infos.get(name)):
                    broker.deregister(self.config.queues, consumer)
                broker.set_worker(name, None)
        except TaskQueueError:
            pass  # the entries age out (Heartbeat.forget_after, recovery)

    def _forget_self(self) -> None:
        """Forced exit of a solo/threads worker: deregister what holds nothing."""
        if self._heartbeat is not None:
            self._heartbeat.remove()

    def _run_in_process(self, broker: WakeableBroker) -> int:
        """A solo or threads worker: one process, its consumers in threads."""
        self.wake_on_stop(broker)
        pool: SoloPool | ThreadPool
        heartbeat = self._heartbeat = self.heartbeat(broker, lambda: pool.consumers)
        watch = CancelWatch(broker, self.config.queues, self.stop)
        watched = Watched(beating=heartbeat.beating, cancels=watch)
        if self.config.pool == "threads":
            pool = ThreadPool(
                lambda cid: self.consumer(broker, cid, watched),
                self.name,
                self.config.concurrency,
            )
        else:
            pool = SoloPool(lambda cid: self.consumer(broker, cid, watched), self.name)
        limits = _thread_limits(pool)
        self.start_scheduler(broker)
        with keeping_alive(heartbeat):
            watch.start()
            if limits is None:
                return pool.run()
            limits.start()
            try:
                return pool.run()
            finally:
                limits.stop()

    def _run_child(self, slot: DeadlineSlot) -> int:
        """A prefork child: one consumer, its heartbeat and its watchdog."""
        broker = self.connect()
        self.wake_on_stop(broker)
        pool: SoloPool
        heartbeat = self.heartbeat(broker, lambda: pool.consumers, child=True)
        watch = CancelWatch(broker, self.config.queues, self.stop)
        watched = Watched(beating=heartbeat.beating, deadlines=slot, cancels=watch)
        pool = SoloPool(lambda cid: self.consumer(broker, cid, watched), self.name)
        watchdog = Watchdog(pool.consumers[0])
        watch.terminate = terminator(pool.consumers[0])
        self.start_scheduler(broker)
        with keeping_alive(heartbeat):
            watchdog.start()
            watch.start()
            try:
                code = pool.run()
            finally:
                watchdog.stop()
        return RECYCLED if code == 0 and pool.consumers[0].recycled else code

    def start_scheduler(self, broker: Broker) -> None:
        """Every worker process fires the schedules (a thread; none without any)."""
        scheduler.start(
            broker, self.schedules, alias=self.config.backend, stop=self.stop
        )

    def _record_overdue(self, overdue: Overdue) -> None:
        """In the supervisor: a killed child's task timed out, its rest goes back."""
        broker = self.connect()
        stand_in = Consumer(
            config=replace(self.config, burst=True),  # burst: no waiter threads
            broker=broker, executor=self._executor(overdue.consumer),
            stop=StopFlag(), consumer_id=overdue.consumer,
        )  # fmt: skip
        try:
            abandon_killed(stand_in, overdue)
        except TaskQueueError as exc:
            log.error("Could not record task_id=%s timed out: %s", overdue.task_id, exc)
        finally:
            broker.close()

    def _executor(self, consumer_id: str) -> Executor:
        return Executor(
            tasks=self.tasks, options=self.options, consumer=consumer_id,
            alias=self.config.backend,
        )  # fmt: skip

    def consumer(
        self, broker: Broker, consumer_id: str, watched: Watched = UNWATCHED
    ) -> Consumer:
        return Consumer(
            config=self.config, broker=broker, executor=self._executor(consumer_id),
            stop=self.stop, consumer_id=consumer_id, watched=watched,
        )  # fmt: skip

    def heartbeat(
        self, broker: Broker, consumers: Any, *, child: bool = False
    ) -> Heartbeat:
        import os

        name = f"{self.name}/{os.getpid()}" if child else self.name
        return Heartbeat(
            broker=broker, name=name, queues=self.config.queues, consumers=consumers,
            interval=self.options.heartbeat_interval,
            extra={"pool": self.config.pool, "concurrency": self.config.concurrency},
        )  # fmt: skip

    def log_banner(self, broker: Broker) -> None:
        log.info(
            "taskqueue %s worker %s\n  broker: %s\n  queues: %s\n  pool: %s, concurrency: %d%s\n  tasks:\n%s",
            __version__, self.name, broker.safe_url, ", ".join(self.config.queues),
            self.config.pool, self.config.concurrency, " (burst)" if self.config.burst else "",
            "\n".join(f"    . {path}" for path in sorted(self.tasks)) or "    (none)",
        )  # fmt: skip


def _thread_limits(pool: SoloPool | ThreadPool) -> ThreadLimits | None:
    """The threads pool's time limits (#144), when any task has one."""
    if not isinstance(pool, ThreadPool) or not pool.consumers[0].executor.any_limits():
        return None
    return ThreadLimits(pool.threads)


def _consumer_ids(info: bytes | None) -> list[str]:
    """The consumer ids in a worker's info (heartbeat.py); [] if unreadable."""
    try:
        consumers = orjson.loads(info or b"{}").get("consumers")
    except (orjson.JSONDecodeError, AttributeError):
        return []
    if not isinstance(consumers, list):
        return []
    return [c for c in consumers if isinstance(c, str)]
