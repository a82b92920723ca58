"""Settler: the only code that records outcomes and releases messages.

Outcomes of a batch are collected and written with one settle script call
per queue: either now (``flush``) or sent behind the next claim (``take`` /
``sent``), in which case Redis runs them while the worker runs the next
batch and ``confirm`` reads their replies before anything that needs them
stored. If Redis is down the call is retried with backoff until it lands
(dropping an outcome would mean running the task again; settling twice is
harmless, a released message is skipped), unless a hard stop ends the
process first; then recovery redelivers the messages.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import orjson

from taskqueue import metrics, results, retry
from taskqueue.broker import Broker, Settlement, SettleReplies
from taskqueue.compat import TaskResultStatus
from taskqueue.conf import QueueOptions
from taskqueue.exceptions import BrokerError, BrokerUnavailable
from taskqueue.outcomes import Failed, Poison, RetryLater, Settled, Succeeded
from taskqueue.protocol import Envelope
from taskqueue.worker.clock import ServerClock
from taskqueue.worker.deadcap import DeadLetterCap

log = logging.getLogger("taskqueue.worker")
PREVIEW_BYTES = 200
Pending = dict[str, list[Settlement]]  # queue -> outcomes to settle there


FinishedHook = Callable[[Settled], None]


def _nothing(outcome: Settled) -> None:
    pass


class Settler:
    def __init__(
        self, *, broker: Broker, consumer_id: str, options: QueueOptions,
        finished: FinishedHook = _nothing,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.consumer_id = consumer_id
        self.options = options
        self.pending: dict[str, list[Settlement]] = {}
        self.finished: list[Settled] = []
        # Called with each outcome once it is stored (task_finished receivers).
        self.finished_hook = finished
        self.record_metrics = metrics.recording()
        self.clock = ServerClock()  # synced by each claim (Fetcher.claim)
        self.dead_cap = DeadLetterCap(broker, options)
        # Settles sent ahead whose replies are still to be read.
        self._unconfirmed: tuple[SettleReplies, Pending, list[Settled]] | None = None

    def add(
        self, queue: str, raw: bytes, outcome: Settled, *, redelivered: bool = False
    ) -> None:
        settlement = self._settlement_or_dead(queue, raw, outcome)
        if redelivered:
            settlement.redelivered = True
        held = getattr(outcome, "envelope", None)
        if held is not None and (held.unique or held.held):
            self._let_go(queue, settlement, held)
        duration = getattr(outcome, "duration", None)
        if duration is not None:
            settlement.finished = self.clock.now()
            settlement.started = settlement.finished - duration
            if held is not None and held.admitted_at:
                # A gated start is the gate's admission, on the clock the
                # limit is kept on (lua/gate_rate.lua), not a moment later.
                settlement.started = min(settlement.started, held.admitted_at)
        self.pending.setdefault(queue, []).append(settlement)
        if self.record_metrics:
            metrics.record(outcome, queue)
        self.finished.append(outcome)

    def _let_go(self, queue: str, settlement: Settlement, envelope: Envelope) -> None:
        """What the settle releases: the unique key and the concurrency slot."""
        if envelope.unique:
            settlement.unique = self.broker.keys(queue).unique_prefix + envelope.unique
        settlement.slot = envelope.held

    def flush(self) -> None:
        """Write every collected outcome now; retry through Redis outages."""
        self.confirm()
        for queue, items in self.pending.items():
            self._write(queue, items)
        self.dead_cap.note_stored(self.pending)
        self.pending = {}
        finished, self.finished = self.finished, []
        self._finished(finished)
        self.dead_cap.enforce()

    def take(self) -> Pending:
        """Hand the collected settles to a caller that sends them (see ``sent``)."""
        self.confirm()
        pending, self.pending = self.pending, {}
        return pending

    def sent(self, replies: SettleReplies, pending: Pending) -> None:
        """The settles taken were sent; their replies are read by ``confirm``."""
        finished, self.finished = self.finished, []
        self._unconfirmed = (replies, pending, finished)

    def give_back(self, pending: Pending) -> None:
        """The settles taken could not be sent: collect them again."""
        for queue, items in pending.items():
            self.pending.setdefault(queue, [])[:0] = items

    def confirm(self) -> None:
        """Make sure settles sent ahead are stored (write them again if unsure)."""
        if self._unconfirmed is None:
            return
        replies, pending, finished = self._unconfirmed
        self._unconfirmed = None
        try:
            stored = replies.wait()
        except (BrokerUnavailable, BrokerError):
            stored = False  # written again below (settling twice is harmless)
        if not stored:
            for queue, items in pending.items():
                self._write(queue, items)
        self.dead_cap.note_stored(pending)  # trimmed only once stored
        self._finished(finished)
        self.dead_cap.enforce()

    def _finished(self, outcomes: list[Settled]) -> None:
        """Run the finished hook (task_finished receivers) for stored outcomes.

        A receiver's error is its own: logged, and the next outcome goes on.
        """
        for outcome in outcomes:
            try:
                self.finished_hook(outcome)
            except BaseException:
                log.exception("task_finished receiver failed")

    def _write(self, queue: str, items: list[Settlement]) -> None:
        """Settle through outages; a refused batch is settled one by one."""
        try:
            self._write_retrying(queue, items)
        except BrokerError as exc:
            log.error("Redis refused a settle of %d outcomes: %s", len(items), exc)
            for item in items:
                self._write_alone(queue, item)

    def _write_alone(self, queue: str, item: Settlement) -> None:
        """One outcome; if Redis refuses even that, its message is dead-lettered."""
        try:
            self._write_retrying(queue, [item])
        except BrokerError as exc:
            dead = self._dead(
                queue, item.raw, reason=f"outcome could not be stored: {exc}",
                task_id=item.task_id,
            )  # fmt: skip
            try:
                self._write_retrying(queue, [dead])
                self.dead_cap.note(queue)
            except BrokerError:
                log.exception("could not settle task_id=%s", item.task_id or "-")

    def _write_retrying(self, queue: str, items: list[Settlement]) -> None:
        attempt = 0
        while True:
            try:
                self.broker.settle(
                    queue, self.consumer_id, items, ttl=self.options.result_ttl
                )
                if attempt:
                    log.warning("Redis is back; settled %d outcomes", len(items))
                return
            except BrokerUnavailable as exc:
                attempt += 1
                if attempt == 1:
                    log.error(
                        "Redis unavailable while settling %d outcomes, retrying: %s",
                        len(items),
                        exc,
                    )
                time.sleep(retry.backoff(attempt, 0.5, 10.0) + 0.05)

    def _settlement_or_dead(
        self, queue: str, raw: bytes, outcome: Settled
    ) -> Settlement:
        """The settle arguments for an outcome; a dead letter if none can be built."""
        try:
            settlement = self._settlement(queue, raw, outcome)
            envelope = getattr(outcome, "envelope", None)
            if envelope is not None and envelope.workflow is not None:
                settlement.workflow = envelope.workflow  # settle_workflow.lua
            return settlement
        except Exception as exc:  # noqa: BLE001 (a message must never stop the loop)
            task_id = getattr(getattr(outcome, "envelope", None), "id", "")
            return self._dead(
                queue, raw, reason=f"outcome could not be recorded: {exc!r}"[:500],
                task_id=task_id,
            )  # fmt: skip

    def _settlement(self, queue: str, raw: bytes, outcome: Settled) -> Settlement:
        match outcome:
            case Succeeded(envelope=env, value_json=value):
                return Settlement(
                    "done", raw, env.id, TaskResultStatus.SUCCESSFUL, value,
                    attempt=env.attempt, msg=_recorded(env),
                )  # fmt: skip
            case Failed(envelope=env, error_json=error):
                return Settlement(
                    "done", raw, env.id, TaskResultStatus.FAILED,
                    error_field=results.error_field(env.attempt), error_json=error,
                    attempt=env.attempt, msg=_recorded(env),
                )  # fmt: skip
            case RetryLater(envelope=env, error_json=error, delay=delay):
                return Settlement(
                    "retry", raw, env.id, TaskResultStatus.READY,
                    retry.next_attempt(env), results.error_field(env.attempt), error,
                    delay, attempt=env.attempt,
                )  # fmt: skip
            case Poison(reason=reason, task_id=task_id, envelope=env):
                dead = self._dead(queue, raw, reason=reason, task_id=task_id)
                dead.msg = _recorded(env) if env is not None else b""
                return dead
        raise AssertionError(outcome)  # pragma: no cover

    def _dead(self, queue: str, raw: bytes, *, reason: str, task_id: str) -> Settlement:
        dead_id = secrets.token_hex(8)
        entry = orjson.dumps(
            {
                "id": dead_id,
                "queue": queue,
                "reason": reason,
                "at": self.clock.now(),
                "task_id": task_id,
                "size": len(raw),
                "preview": raw[:PREVIEW_BYTES].decode("utf-8", "replace"),
            }
        )
        log.error(
            "Message dead-lettered dead_id=%s task_id=%s queue=%s reason=%s",
            dead_id,
            task_id or "-",
            queue,
            reason,
        )
        error = (
            results.reason_json(
                "taskqueue.exceptions.PoisonMessage", reason, dead_id=dead_id
            )
            if task_id
            else b""
        )
        return Settlement(
            "dead", raw, task_id, TaskResultStatus.FAILED, entry,
            results.DEAD_ERROR_FIELD if task_id else "", error, 0.0, dead_id,
        )  # fmt: skip


def _recorded(envelope: Envelope) -> bytes:
    """The message a result record keeps, when it is not the raw one in flight.

    A legacy message runs from claim.lua's wrapper; its record keeps the
    envelope the worker made of it, which names the task and its arguments.
    """
    return envelope.encode() if envelope.legacy else b""
