"""Consumer: the loop of one worker slot. Fetch → execute → settle, nothing else.

A consumer owns one in-flight list per queue. ``fetch`` claims a batch
atomically into it (adaptive size: 1 when the queue is short, up to
``max_batch`` when it is deep), ``process`` runs the batch in order, and
``settle`` records outcomes and releases messages in one script call per
batch, sent right behind the next claim so that Redis runs it while the
consumer runs the next batch. A message leaves Redis only inside
``settle``, after its outcome is stored. On a stop request the unstarted rest of the batch goes back to the
head of its queue, in order.

Django's ``task_finished`` signal is sent after the outcome is stored (the
order django-tasks-db uses), so a receiver that reads the result sees it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, close_old_connections

from taskqueue import results
from taskqueue.broker import Broker, Claimed, ClaimPolicy
from taskqueue.exceptions import BrokerUnavailable, PoisonMessage, TaskQueueError
from taskqueue.outcomes import (
    Failed,
    GiveBack,
    Outcome,
    Poison,
    RetryLater,
    Succeeded,
)
from taskqueue.protocol import Envelope, decode, visible_id
from taskqueue.retry import backoff
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.deadline import DeadlineSlot
from taskqueue.worker.execute import Executor
from taskqueue.worker.memory import resident_kib, usable_limit
from taskqueue.worker.outage import wait_for_database
from taskqueue.worker.settle import Settler
from taskqueue.worker.stop import StopFlag
from taskqueue.worker.waiter import Waiter

log = logging.getLogger("taskqueue.worker")
SLOW_TASK = 0.05  # seconds: after a task this long, mark the next one RUNNING


@dataclass(frozen=True, slots=True)
class Running:
    """The message a consumer is executing right now (read by the watchdog)."""

    queue: str
    claimed: Claimed
    envelope: Envelope
    started: float  # time.monotonic()


class Consumer:
    """One fetch/run/settle loop with its own in-flight record."""

    def __init__(
        self, *, config: WorkerConfig, broker: Broker, executor: Executor,
        stop: StopFlag, consumer_id: str,
    ) -> None:  # fmt: skip
        self.config = config
        self.broker = broker
        self.executor = executor
        self.stop = stop
        self.id = consumer_id
        self.options = executor.options
        self.settler = Settler(
            broker=broker, consumer_id=consumer_id, options=self.options, stop=stop
        )
        self.settler.finished_hook = executor.finished
        self.claim_policy = ClaimPolicy(
            max_batch=config.max_batch,
            worker_timeout=self.options.worker_timeout,
            result_ttl=self.options.result_ttl,
            max_message_bytes=self.options.max_message_bytes,
        )
        # Async tasks run together only if they are claimed together: after a
        # batch that had some, claim at least async_concurrency at a time.
        self.async_policy = dataclasses.replace(
            self.claim_policy, min_batch=config.async_concurrency
        )
        self._async_seen = False
        self.processed = 0
        self.running: Running | None = None
        self.deadlines: DeadlineSlot | None = None  # prefork: the supervisor's view
        self.beating: Callable[[], bool] = _always  # the heartbeat's (main.py)
        self.lock = threading.Lock()  # running's end vs the watchdog (watchdog.py)
        self._peeked: dict[bytes, Envelope] = {}
        self._slow = False
        self.rest: list[tuple[str, Claimed]] = []
        self.recycled = False
        self.current: str | None = None
        # One queue: block in this thread. Several: one blocking thread each.
        self.waiter = (
            Waiter(
                broker,
                consumer_id,
                config.queues,
                timeout=config.block_timeout,
                stop=stop,
            )
            if len(config.queues) > 1 and not config.burst
            else None
        )
        self._outage_since: float | None = None
        self._memory_limit = usable_limit(config.max_memory_per_child)
        # Idle: when a scheduled message of each queue falls due (monotonic),
        # and when to claim next at all (None: at once, the consumer is busy).
        self._due_at: dict[str, float] = {}
        self._next_claim: float | None = None
        self.idle_claim_every = idle_claim_interval(
            config.block_timeout, self.options.worker_timeout
        )
        # Queues where a claim or BLMOVE may have run without us seeing the
        # reply; the next claim hands anything stranded in-flight back.
        self._unsure: set[str] = set()

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

    def fetch(self) -> list[tuple[str, Claimed]]:
        """Claim from the queues in order; block on one of them when all are empty.

        An idle consumer does not claim after every empty wait: only when a
        scheduled message falls due, or every ``idle_claim_every`` seconds
        to recover dead consumers' messages. Between those it only blocks,
        so an idle worker costs Redis about one command per block timeout.
        """
        try:
            if not self.beating():  # others may presume us dead: claim nothing
                raise BrokerUnavailable("the heartbeat is not getting through")
            batch = self._handover() or self._claim_due()
            if batch or self.config.burst:
                self._next_claim = None
                return batch
            batch = self._wait()
            if batch:
                self._next_claim = None
            return batch
        except TaskQueueError as exc:  # unavailable, refused, or an error reply
            self._unsure.update(self.config.queues)
            self._next_claim = None
            self._outage(exc)
            return []

    def _claim_due(self) -> list[tuple[str, Claimed]]:
        """Claim from the queues in order, if a claim is due (always, when busy)."""
        if self._next_claim is not None and time.monotonic() < self._next_claim:
            return []
        for queue in self.config.queues:
            claimed = self._claim(queue)
            if claimed:
                return claimed
        self.settler.confirm()  # nothing to run: the last batch is stored first
        self._plan_idle_claim()
        return []

    def _handover(self) -> list[tuple[str, Claimed]]:
        """Claim a message a waiter thread moved into in-flight, if one is here."""
        arrival = self.waiter.take() if self.waiter is not None else None
        if arrival is None:
            return []
        queue, raw = arrival
        return self._claim(queue, moved=raw)

    def _plan_idle_claim(self) -> None:
        """After an empty claim: claim again when something is due, or at the interval."""
        self._next_claim = min(
            [time.monotonic() + self.idle_claim_every, *self._due_at.values()]
        )

    def _claim(
        self, queue: str, moved: bytes | None = None
    ) -> list[tuple[str, Claimed]]:
        """Claim a batch; the last batch's settles ride along behind the claim."""
        policy = self.async_policy if self._async_seen else self.claim_policy
        if self.settler.pending and moved is None and queue not in self._unsure:
            pending = self.settler.take()
            try:
                result, replies = self.broker.claim_then_settle(
                    queue, self.id, policy, settles=pending, ttl=self.options.result_ttl
                )
            except TaskQueueError:
                self.settler.give_back(pending)
                raise
            self.settler.sent(replies, pending)
        else:
            # A reset claim hands back all my in-flight: settle for sure first.
            self.settler.flush()
            result = self.broker.claim(
                queue, self.id, policy, moved=moved, reset=queue in self._unsure
            )
        self._unsure.discard(queue)
        self.settler.clock.sync(result.server_time)
        self._recovered_from_outage()
        if result.recovered:
            log.warning(
                "Recovered %d in-flight messages of dead workers queue=%s",
                result.recovered,
                queue,
            )
        if result.due_in is None:
            self._due_at.pop(queue, None)
        else:
            self._due_at[queue] = time.monotonic() + result.due_in
        return [(queue, claimed) for claimed in result.messages]

    def _wait(self) -> list[tuple[str, Claimed]]:
        """Block until a message arrives, a claim is due, or one block timeout passes."""
        timeout = self.config.block_timeout
        if self._next_claim is not None:
            timeout = max(0.01, min(timeout, self._next_claim - time.monotonic()))
        if self.waiter is None:
            queue: str = self.config.queues[0]
            raw = self.broker.block(queue, self.id, timeout)
        else:
            arrival = self.waiter.wait(timeout)
            if arrival is None:
                return []
            queue, raw = arrival
        if raw is None:
            return []
        batch = self._claim(queue, moved=raw)
        if not batch:  # a wake token: a new scheduled message may be due sooner
            self._plan_idle_claim()
        return batch

    def process(self, batch: list[tuple[str, Claimed]]) -> None:
        """Run a claimed batch in order; hand back what a stop left unstarted."""
        self._async_seen = False
        self._slow = False  # the claim marked the first task RUNNING
        index = 0
        while index < len(batch):
            if self.stop.requested or self.recycle_reason():
                self.settler.flush()
                self._requeue(batch[index:])
                break
            group = self._async_group(batch, index)
            if group:
                self.rest = batch[index + len(group) :]
                given_back = self._run_async(group)
                index += len(group)
                if given_back:
                    self._database_outage([*given_back, *batch[index:]])
                    break
                continue
            queue, claimed = batch[index]
            self.rest = batch[index + 1 :]
            outcome = self.handle(queue, claimed)
            if isinstance(outcome, GiveBack):
                self._database_outage(batch[index:], outcome.summary)
                break
            self.settler.add(
                queue, claimed.raw, outcome, redelivered=claimed.redeliveries > 0
            )
            self.processed += 1
            index += 1
        # Outcomes left collected go out behind the next claim (see _claim).
        self.rest = []
        self._peeked.clear()
        try:
            close_old_connections()  # the executor checks before each task; this covers idling
        except DatabaseError:  # a database going away: the next task will say so
            log.debug("closing old database connections failed", exc_info=True)

    def _async_group(
        self, batch: list[tuple[str, Claimed]], start: int
    ) -> list[tuple[str, Claimed, Envelope]]:
        """Consecutive async-task messages from start (none if it is not one)."""
        if not self.executor.has_async:
            return []
        group = []
        for queue, claimed in batch[start : start + self.config.async_concurrency]:
            envelope = self._peek(queue, claimed)
            if envelope is None or not self.executor.is_async(envelope.task):
                break
            group.append((queue, claimed, envelope))
        return group

    def _peek(self, queue: str, claimed: Claimed) -> Envelope | None:
        """The envelope of a plain, healthy message (None for anything handle() must see)."""
        if claimed.redeliveries >= self.options.max_deliveries:
            return None
        try:
            envelope = decode(
                claimed.raw, max_bytes=self.options.max_message_bytes, queue=queue
            )
        except Exception:  # noqa: BLE001 (handle() decodes it again and says why)
            return None
        if envelope.legacy:
            return None
        self._peeked[claimed.raw] = envelope  # handle() will not decode it again
        return envelope

    def _database_outage(
        self, unsettled: list[tuple[str, Claimed]], reason: str = ""
    ) -> None:
        """Hand back what the database outage stopped, then wait for it."""
        self.settler.flush()
        self._requeue(unsettled)
        wait_for_database(self.stop, reason or "an async task could not reach it")

    def _run_async(
        self, group: list[tuple[str, Claimed, Envelope]]
    ) -> list[tuple[str, Claimed]]:
        """Run a group of async tasks; returns the messages to give back."""
        self._async_seen = True
        for queue, _, envelope in group:
            _log_received(envelope, queue)
        envelopes = [envelope for _, _, envelope in group]
        self._watch_async(group)
        try:
            outcomes = self.executor.run_async(envelopes)
        except BaseException as exc:
            log.exception("could not run %d async tasks", len(group))
            error = results.error_json(exc)
            outcomes = [Failed(env, error, 0.0, repr(exc)[:500]) for env in envelopes]
        with self.lock:
            self.running = None
        if self.deadlines is not None:
            self.deadlines.clear()
        given_back = []
        for (queue, claimed, _), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, GiveBack):
                given_back.append((queue, claimed))
                continue
            _log_outcome(outcome)
            self.settler.add(
                queue, claimed.raw, outcome, redelivered=claimed.redeliveries > 0
            )
            self.processed += 1
        return given_back

    def _watch_async(self, group: list[tuple[str, Claimed, Envelope]]) -> None:
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
        self.running = Running(queue, claimed, envelope, time.monotonic())
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

    def abandon(self, running: Running) -> None:
        """Give up on a task past its hard time limit (called by the watchdog).

        Records it as timed out (retried per policy), stores what the batch
        already finished, and hands back its unstarted rest; the process
        then exits and the prefork supervisor replaces it.
        """
        if self.deadlines is not None:
            self.deadlines.clear()  # the supervisor need not step in as well
        duration = time.monotonic() - running.started
        outcome = self.executor.timed_out(running.envelope, duration)
        _log_outcome(outcome)
        self.settler.add(running.queue, running.claimed.raw, outcome)
        self.settler.flush()
        self._requeue(self.rest)

    def abandon_killed(self, queue: str, task_id: str, started: float) -> None:
        """Stand in for a consumer its supervisor killed past a task's deadline.

        Records that task as timed out (retried per its policy) and hands
        back everything else the dead consumer held, at once.
        """
        running, rest = None, []
        for name in self.config.queues:
            for raw in self.broker.in_flight(name, self.id):
                envelope = self._decoded(name, raw)
                if (
                    running is None
                    and name == queue
                    and envelope
                    and envelope.id == task_id
                ):
                    running = Running(name, Claimed(raw, 0), envelope, started)
                else:
                    rest.append((name, Claimed(raw, 0)))
        self.rest = rest
        if running is None:
            self._requeue(rest)
        else:
            self.abandon(running)
        self.shutdown()

    def _decoded(self, queue: str, raw: bytes) -> Envelope | None:
        try:
            envelope = decode(
                raw, max_bytes=self.options.max_message_bytes, queue=queue
            )
        except PoisonMessage:
            return None
        legacy = self.executor.legacy(envelope) if envelope.legacy else envelope
        return legacy if isinstance(legacy, Envelope) else None

    def recycle_reason(self) -> str:
        """Why this consumer should exit and be replaced ('' to go on)."""
        limit = self.config.max_tasks_per_child
        if limit and self.processed >= limit:
            return f"reached max_tasks_per_child={limit}"
        memory = self._memory_limit
        if memory and resident_kib() > memory:
            return f"resident memory over max_memory_per_child={memory} KiB"
        return ""

    def handle(self, queue: str, claimed: Claimed) -> Outcome:
        """Decode and run one message; whatever happens becomes its Outcome.

        Nothing a message holds or a task does may reach the loop: any
        exception here, BaseException included, is this message's outcome
        and the rest of the batch goes on.
        """
        try:
            envelope = self._intake(queue, claimed)
        except BaseException as exc:
            log.exception("could not read a message of queue=%s", queue)
            return Poison(f"message could not be read: {exc!r}"[:500])
        if isinstance(envelope, Poison):
            return envelope
        self.current = envelope.id
        _log_received(envelope, queue)
        self.running = Running(queue, claimed, envelope, time.monotonic())
        self._publish_deadline(queue, envelope)
        try:
            outcome = self.executor.execute(envelope)
        except BaseException as exc:
            log.exception("could not run task_id=%s", envelope.id)
            outcome = Failed(envelope, results.error_json(exc), 0.0, repr(exc)[:500])
        with self.lock:  # the watchdog may be timing this task out right now
            self._slow = time.monotonic() - self.running.started >= SLOW_TASK
            self.running = None
        if self.deadlines is not None:
            self.deadlines.clear()
        self.current = None
        _log_outcome(outcome)
        return outcome

    def _intake(self, queue: str, claimed: Claimed) -> Envelope | Poison:
        """The envelope to run, or the Poison outcome of a message that must not run."""
        try:
            envelope = self._peeked.pop(claimed.raw, None) or decode(
                claimed.raw, max_bytes=self.options.max_message_bytes, queue=queue
            )
        except PoisonMessage as exc:
            return Poison(exc.reason, visible_id(claimed.raw))
        if claimed.redeliveries >= self.options.max_deliveries:
            reason = f"redelivered {claimed.redeliveries} times"
            return Poison(reason, envelope.id, None if envelope.legacy else envelope)
        if envelope.legacy:
            legacy = self.executor.legacy(envelope)
            if isinstance(legacy, Poison):
                return legacy
            envelope = legacy
        if self._slow:
            self._mark_running(queue, envelope.id, claimed.raw)
        return envelope

    def _mark_running(self, queue: str, task_id: str, raw: bytes) -> None:
        """Show RUNNING for a task that starts after a slow one in the same batch.

        The claim marks the first task of a batch; when tasks are quick the
        rest settle within milliseconds, so marking each would only cost a
        round trip apiece. After a slow task the round trip is noise.
        """
        try:
            self.broker.mark_running(queue, self.id, task_id=task_id, raw=raw)
        except TaskQueueError:
            log.debug("could not mark task_id=%s RUNNING: Redis unavailable", task_id)

    def _requeue(self, rest: list[tuple[str, Claimed]]) -> None:
        """Hand unstarted messages back; if Redis is away, recovery will."""
        by_queue: dict[str, list[bytes]] = defaultdict(list)
        for queue, claimed in rest:
            by_queue[queue].append(claimed.raw)
        for queue, raws in by_queue.items():
            try:
                moved = self.broker.requeue(queue, self.id, raws)
            except TaskQueueError as exc:
                # They stay in my in-flight list, where nobody recovers them
                # while I live: my next claim of this queue hands them back.
                self._unsure.add(queue)
                log.warning(
                    "Could not return %d messages of queue=%s: %s",
                    len(raws),
                    queue,
                    exc,
                )
                continue
            log.info(
                "Returned %d unstarted messages to the head of queue=%s", moved, queue
            )

    def hand_back(self) -> None:
        """After this consumer died: its in-flight goes back now, not after a timeout.

        Outcomes it had collected are stored first where Redis takes them;
        the rest of what it held runs again (delivery is at least once).
        """
        try:
            self.settler.flush()
        except Exception:
            log.exception("could not store the outcomes of consumer=%s", self.id)
        for queue in self.config.queues:
            try:
                held = self.broker.in_flight(queue, self.id)
            except TaskQueueError:
                continue  # recovery hands it back after the worker timeout
            self._requeue([(queue, Claimed(raw, 0)) for raw in held])
        self.shutdown()

    def drained(self) -> bool:
        """Nothing pending or in flight on any of our queues (scheduled may remain)."""
        try:
            stats = [self.broker.stats(queue) for queue in self.config.queues]
        except TaskQueueError:
            return False
        return all(s.pending == 0 and s.in_flight == 0 for s in stats)

    def shutdown(self) -> None:
        self.settler.flush()
        try:
            if self.waiter is not None:
                left = self.waiter.close()
                self._requeue([(queue, Claimed(raw, 0)) for queue, raw in left])
            self.broker.deregister(self.config.queues, self.id)
        except TaskQueueError:
            log.warning("Could not deregister consumer=%s: Redis unavailable", self.id)

    def _outage(self, exc: TaskQueueError) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            self._attempt = 0
            if isinstance(exc, BrokerUnavailable):
                log.error("Redis unavailable, reconnecting with backoff: %s", exc)
            else:
                log.error("Redis refused the claim, retrying with backoff: %s", exc)
        self._attempt += 1
        self.stop.wait(backoff(self._attempt, 0.5, 10.0) + 0.05)

    def _recovered_from_outage(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "Redis is back after %.1fs", time.monotonic() - self._outage_since
            )
            self._outage_since = None


def _always() -> bool:
    return True


def idle_claim_interval(block_timeout: float, worker_timeout: float) -> float:
    """How often an idle consumer claims anyway: often enough that a dead
    consumer's messages come back within about 1.5 worker timeouts, never
    more often than once per block timeout, at most every 15 s."""
    return max(block_timeout, min(worker_timeout / 2, 15.0))


def _fields(
    env: Envelope, outcome: str, duration: float | None = None
) -> dict[str, Any]:
    """Structured fields for the JSON log format (``--log-format json``)."""
    return {
        "task_id": env.id, "task": env.task, "queue": env.queue,
        "attempt": env.attempt, "duration": duration, "outcome": outcome,
    }  # fmt: skip


def _log_received(envelope: Envelope, queue: str) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "Task received task_id=%s task=%s queue=%s attempt=%d",
            envelope.id, envelope.task, queue, envelope.attempt,
            extra=_fields(envelope, "received"),
        )  # fmt: skip


def _log_outcome(outcome: Outcome) -> None:
    match outcome:
        case Succeeded(envelope=env, duration=duration):
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "Task succeeded in %.4fs task_id=%s", duration, env.id,
                    extra=_fields(env, "succeeded", duration),
                )  # fmt: skip
        case RetryLater(envelope=env, delay=delay, summary=summary):
            log.warning(
                "Task failed, retrying in %.2fs task_id=%s attempt=%d error=%s",
                delay, env.id, env.attempt, summary, extra=_fields(env, "retrying"),
            )  # fmt: skip
        case Failed(envelope=env, summary=summary, expected=True, duration=duration):
            log.warning(
                "Task failed, not retried task_id=%s error=%s", env.id, summary,
                extra=_fields(env, "failed", duration),
            )  # fmt: skip
        case Failed(envelope=env, summary=summary, duration=duration):
            log.error(
                "Task failed task_id=%s attempt=%d error=%s", env.id, env.attempt,
                summary, extra=_fields(env, "failed", duration),
            )  # fmt: skip
        case Poison() | GiveBack():
            pass  # logged when dead-lettered / by the outage wait
