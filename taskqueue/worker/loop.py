"""Consumer: the loop of one worker slot. Fetch → run → settle, nothing else.

A consumer owns one in-flight list per queue. Its fetcher (fetch.py) claims
a batch atomically into it (adaptive size: 1 when the queue is short, up to
``max_batch`` when it is deep), ``process`` runs the batch in order through
the intake (intake.py: bytes to envelope or poison) and the executor
(execute.py: the only place task code runs), and the settler (settle.py)
records outcomes and releases messages in one script call per batch, sent
right behind the next claim so that Redis runs it while the consumer runs
the next batch. A message leaves Redis only inside the settle, after its
outcome is stored. On a stop request the unstarted rest of the batch goes
back to the head of its queue, in order (handback.py).

Django's ``task_finished`` signal is sent after the outcome is stored (the
order django-tasks-db uses), so a receiver that reads the result sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, close_old_connections

from taskqueue import results
from taskqueue.broker import Broker, Claimed
from taskqueue.exceptions import TaskQueueError
from taskqueue.outcomes import Deferred, Failed, GiveBack, Outcome, Poison, Settled
from taskqueue.protocol import Envelope
from taskqueue.worker import cancels, tasklog
from taskqueue.worker.cancels import CancelWatch
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.deadline import DeadlineSlot
from taskqueue.worker.execute import Executor
from taskqueue.worker.fetch import Batch, Fetcher, always
from taskqueue.worker.gate import Gate, gated_tasks
from taskqueue.worker.handback import HandBack
from taskqueue.worker.intake import Intake
from taskqueue.worker.marks import RunningMarks
from taskqueue.worker.memory import resident_kib, usable_limit
from taskqueue.worker.outage import wait_for_database
from taskqueue.worker.settle import Settler
from taskqueue.worker.status import Running, Status
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.worker")
AsyncGroup = list[tuple[str, Claimed, Envelope]]


@dataclass(frozen=True, slots=True)
class Watched:
    """How the process around a consumer watches it."""

    beating: Callable[[], bool] = always  # the heartbeat gets through (heartbeat.py)
    deadlines: DeadlineSlot | None = None  # prefork: the supervisor's kill clock
    cancels: CancelWatch | None = None  # the process's cancel watch (cancels.py)


UNWATCHED = Watched()


class Consumer:
    """One fetch/run/settle loop with its own in-flight record."""

    def __init__(
        self, *, config: WorkerConfig, broker: Broker, executor: Executor,
        stop: StopFlag, consumer_id: str, watched: Watched = UNWATCHED,
    ) -> None:  # fmt: skip
        self.config = config
        self.broker = broker
        self.executor = executor
        self.stop = stop
        self.id = consumer_id
        self.options = executor.options
        self.deadlines = watched.deadlines  # prefork: the supervisor's view
        self.status = Status()
        self.settler = Settler(
            broker=broker, consumer_id=consumer_id, options=self.options,
            finished=executor.finished,
        )  # fmt: skip
        self.fetcher = Fetcher(
            config=config, broker=broker, settler=self.settler,
            consumer_id=consumer_id, stop=stop, beating=watched.beating,
        )  # fmt: skip
        if watched.cancels is not None:  # claims tell it of cancels in flight
            self.fetcher.pause.on_control = watched.cancels.note
        self.intake = Intake(self.options, alias=executor.alias)
        self.marks = RunningMarks(broker, consumer_id)
        self.handback = HandBack(broker, consumer_id, unsure=self.fetcher.unsure.add)
        self.gate = Gate(
            broker, consumer_id, limited=gated_tasks(executor.tasks, self.options),
            timeout=self.options.worker_timeout,
        )  # fmt: skip
        self.rest: Batch = []  # what the running batch has not started yet
        self.recycled = False
        self._memory_limit = usable_limit(config.max_memory_per_child)
        self._outage_reason = ""  # why the database outage gave messages back

    def run(self) -> int:
        """Process messages until asked to stop; return the exit code."""
        while not self.stop.requested:
            handled = self.run_once()
            if not handled and self.config.burst and self.drained():
                log.info("Queues drained, exiting (burst) consumer=%s", self.id)
                break
            reason = self.recycle_reason()
            if reason:
                log.info("Consumer %s exiting: %s", self.id, reason)
                self.recycled = True
                break
        self.shutdown()
        return 0

    def run_once(self) -> bool:
        """Claim a batch, run it, settle it. True if anything was claimed."""
        batch = self.fetch()
        if not batch:
            return False
        self.process(batch)
        return True

    def fetch(self) -> Batch:
        return self.fetcher.fetch()

    def process(self, batch: Batch) -> None:
        """Run a claimed batch in order; hand back what a stop left unstarted."""
        self.fetcher.async_batches = False
        self.marks.batch_claimed()
        index = 0
        while index < len(batch):
            if self.stop.requested or self.recycle_reason():
                self.settler.flush()
                self.handback.requeue(batch[index:])
                break
            ran, given_back = self._step(batch, index)
            index += ran
            if given_back:
                self._database_outage([*given_back, *batch[index:]])
                break
        # Outcomes left collected go out behind the next claim (see fetch.py).
        self.rest = []
        self.intake.forget_peeks()
        try:
            close_old_connections()  # the executor checks before each task; this covers idling
        except DatabaseError:  # a database going away: the next task will say so
            log.debug("closing old database connections failed", exc_info=True)

    def _step(self, batch: Batch, index: int) -> tuple[int, Batch]:
        """Run the message at index (or the async group starting there).

        Returns how many messages it took and those the database outage
        made it give back unrun (they go back to the queue with the rest).
        """
        group = self._async_group(batch, index)
        if group:
            self.rest = batch[index + len(group) :]
            return len(group), self._run_async(group)
        queue, claimed = batch[index]
        self.rest = batch[index + 1 :]
        outcome = self.handle(queue, claimed)
        if isinstance(outcome, GiveBack):
            self._outage_reason = outcome.summary
            return 1, [(queue, claimed)]
        if isinstance(outcome, Deferred):  # the gate moved it to the scheduled set
            self.fetcher.due_in(queue, outcome.due_in)
            return 1, []
        self._collect(queue, claimed, outcome)
        return 1, []

    def _collect(self, queue: str, claimed: Claimed, outcome: Settled) -> None:
        self.settler.add(
            queue, claimed.raw, outcome, redelivered=claimed.redeliveries > 0
        )
        self.status.settled(outcome)

    def handle(self, queue: str, claimed: Claimed) -> Outcome | Deferred:
        """Read and run one message; whatever happens becomes its Outcome.

        Nothing a message holds or a task does may reach the loop: any
        exception here, BaseException included, is this message's outcome
        and the rest of the batch goes on.
        """
        envelope = self.intake.envelope(queue, claimed)
        if isinstance(envelope, Poison):
            return envelope
        skipped = cancels.before_start(envelope)  # a dict lookup, when any
        if skipped is not None:
            tasklog.outcome(skipped)
            return skipped
        if self.gate.limited and envelope.task in self.gate.limited:
            refused = self.gate.admit(queue, claimed, envelope)
            if refused is not None:
                return refused
        self.marks.task_starting(queue, envelope.id, claimed.raw)
        tasklog.received(envelope, queue)
        started = time.monotonic()
        self.status.started(Running(queue, claimed, envelope, started))
        self._publish_deadline(queue, envelope)
        try:
            outcome = self.executor.execute(envelope)
        except BaseException as exc:
            log.exception("could not run task_id=%s", envelope.id)
            outcome = Failed(envelope, results.error_json(exc), 0.0, repr(exc)[:500])
        self._task_ended()
        outcome = cancels.after_run(outcome, started)
        tasklog.outcome(outcome)
        return outcome

    def _task_ended(self) -> None:
        """Under the status lock: the watchdog may be timing this task out right now."""
        running = self.status.finished()
        if running is not None:
            self.marks.task_ended(time.monotonic() - running.started)
        if self.deadlines is not None:
            self.deadlines.clear()

    def _async_group(self, batch: Batch, start: int) -> AsyncGroup:
        """Consecutive async-task messages from start (none if it is not one)."""
        if not self.executor.has_async:
            return []
        group = []
        for queue, claimed in batch[start : start + self.config.async_concurrency]:
            envelope = self.intake.peek(queue, claimed)
            if envelope is None or not self.executor.is_async(envelope.task):
                break
            if cancels.before_start(envelope) is not None:
                break  # handle() records it, unstarted
            if self.gate.limited and envelope.task in self.gate.limited:
                break  # a limited async task asks the gate and runs alone
            group.append((queue, claimed, envelope))
        return group

    def _run_async(self, group: AsyncGroup) -> Batch:
        """Run a group of async tasks; returns the messages to give back."""
        self.fetcher.async_batches = True
        for queue, _, envelope in group:
            tasklog.received(envelope, queue)
        envelopes = [envelope for _, _, envelope in group]
        started = time.monotonic()
        self._watch_async(group)
        try:
            outcomes = self.executor.run_async(envelopes)
        except BaseException as exc:
            log.exception("could not run %d async tasks", len(group))
            error = results.error_json(exc)
            outcomes = [Failed(env, error, 0.0, repr(exc)[:500]) for env in envelopes]
        self.status.finished()
        if self.deadlines is not None:
            self.deadlines.clear()
        given_back: Batch = []
        for (queue, claimed, _), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, GiveBack):
                given_back.append((queue, claimed))
                continue
            outcome = cancels.after_run(outcome, started)
            tasklog.outcome(outcome)
            self._collect(queue, claimed, outcome)
        self._outage_reason = "an async task could not reach it"
        return given_back

    def _watch_async(self, group: AsyncGroup) -> None:
        """Show the watchdog the group's task with the shortest time limit.

        An async task that blocks its event loop (or ignores its cancellation)
        is stopped from outside like a sync one: the watchdog times that task
        out and hands back the rest of the group with the batch.
        """
        limits = [
            (self.executor.time_limit(env.task), i)
            for i, (_, _, env) in enumerate(group)
        ]
        timed = [(limit, i) for limit, i in limits if limit]
        if not timed:
            return
        _, first = min(timed)
        queue, claimed, envelope = group[first]
        others = [(q, c) for i, (q, c, _) in enumerate(group) if i != first]
        self.rest = [*others, *self.rest]
        running = Running(queue, claimed, envelope, time.monotonic())
        self.status.started(running, shown=False)
        self._publish_deadline(queue, envelope)

    def _publish_deadline(self, queue: str, envelope: Envelope) -> None:
        """Tell the prefork supervisor by when this task must be done (deadline.py)."""
        if self.deadlines is None:
            return
        limit = self.executor.time_limit(envelope.task)
        if limit:
            self.deadlines.publish(
                consumer=self.id, queue=queue, task_id=envelope.id, limit=limit
            )

    def _database_outage(self, unsettled: Batch) -> None:
        """Hand back what the database outage stopped, then wait for it."""
        self.settler.flush()
        self.handback.requeue(unsettled)
        wait_for_database(self.stop, self._outage_reason)

    def recycle_reason(self) -> str:
        """Why this consumer should exit and be replaced ('' to go on)."""
        limit = self.config.max_tasks_per_child
        if limit and self.status.processed >= limit:
            return f"reached max_tasks_per_child={limit}"
        memory = self._memory_limit
        if memory and resident_kib() > memory:
            return f"resident memory over max_memory_per_child={memory} KiB"
        return ""

    def hand_back(self) -> None:
        """After this consumer died: its in-flight goes back now, not after a timeout.

        Outcomes it had collected are stored first where Redis takes them;
        the rest of what it held runs again (delivery is at least once).
        """
        try:
            self.settler.flush()
        except Exception:
            log.exception("could not store the outcomes of consumer=%s", self.id)
        self.handback.requeue(self.handback.held(self.config.queues))
        self.shutdown()

    def drained(self) -> bool:
        """Nothing pending or in flight on any of our queues (scheduled may remain;
        a paused queue's pending tasks wait for its resume)."""
        try:
            stats = [self.broker.stats(queue) for queue in self.config.queues]
        except TaskQueueError:
            return False
        return all((s.pending == 0 or s.paused) and s.in_flight == 0 for s in stats)

    def shutdown(self) -> None:
        """Store what is collected, hand back what waiters moved, deregister."""
        self.settler.flush()
        try:
            self.handback.requeue(self.fetcher.close())
            self.broker.deregister(self.config.queues, self.id)
        except TaskQueueError:
            log.warning("Could not deregister consumer=%s: Redis unavailable", self.id)
