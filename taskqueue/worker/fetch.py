"""Fetch: what a consumer claims next, and when.

Claims go to the queues in order, each one atomic (claim.lua), sized by
the claim policy; the last batch's settles ride behind a claim (pipelined
settling, see settle.py). When every queue is empty the consumer blocks
(BLMOVE; one waiter thread per queue when it has several) instead of
claiming after every wait: it claims again only when a scheduled message
falls due, or every ``idle_claim_every`` seconds to recover dead
consumers' messages, so an idle worker costs Redis about one command per
block timeout. A claim whose reply was lost makes its queue *unsure*: the
next claim there is a reset, which hands anything stranded in flight back.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from taskqueue.broker import Broker, Claimed, ClaimPolicy
from taskqueue.exceptions import BrokerUnavailable, TaskQueueError
from taskqueue.worker.config import WorkerConfig
from taskqueue.worker.outage import RedisOutage
from taskqueue.worker.pause import LOOK_EVERY, PauseState
from taskqueue.worker.settle import Settler
from taskqueue.worker.stop import StopFlag
from taskqueue.worker.waiter import Arrival, Waiter

log = logging.getLogger("taskqueue.worker")
Batch = list[tuple[str, Claimed]]  # (queue, message) in the order to run them


def always() -> bool:
    return True


def idle_claim_interval(block_timeout: float, worker_timeout: float) -> float:
    """How often an idle consumer claims anyway: often enough that a dead
    consumer's messages come back within about 1.5 worker timeouts, never
    more often than once per block timeout, at most every 15 s."""
    return max(block_timeout, min(worker_timeout / 2, 15.0))


class Fetcher:
    def __init__(
        self, *, config: WorkerConfig, broker: Broker, settler: Settler,
        consumer_id: str, stop: StopFlag, beating: Callable[[], bool] = always,
    ) -> None:  # fmt: skip
        self.config = config
        self.broker = broker
        self.settler = settler
        self.id = consumer_id
        self.options = options = settler.options
        self.beating = beating  # the heartbeat's: claim nothing while it fails
        self.pause = PauseState()  # what claims said of pause (and cancels)
        self.claim_policy = ClaimPolicy(
            max_batch=config.max_batch,
            worker_timeout=options.worker_timeout,
            result_ttl=options.result_ttl,
            max_message_bytes=options.max_message_bytes,
        )
        # Async tasks run together only if they are claimed together: after a
        # batch that had some, claim at least async_concurrency at a time.
        self.async_policy = dataclasses.replace(
            self.claim_policy, min_batch=config.async_concurrency
        )
        self.async_batches = False
        self.outage = RedisOutage(stop)
        self.stop = stop
        # One queue: block in this thread. Several: one blocking thread each.
        self.waiter = (
            Waiter(
                broker, consumer_id, config.queues, timeout=config.block_timeout,
                stop=stop, paused=self.pause.queues,
            )
            if len(config.queues) > 1 and not config.burst
            else None
        )  # fmt: skip
        # Idle: when a scheduled message of each queue falls due (monotonic),
        # and when to claim next at all (None: at once, the consumer is busy).
        self._due_at: dict[str, float] = {}
        self._next_claim: float | None = None
        self.idle_claim_every = idle_claim_interval(
            config.block_timeout, options.worker_timeout
        )
        # Queues where a claim or BLMOVE may have run without us seeing the
        # reply; the next claim hands anything stranded in-flight back.
        self.unsure: set[str] = set()

    def fetch(self) -> Batch:
        """Claim from the queues in order; block on one of them when all are empty."""
        try:
            if not self.beating():  # others may presume us dead: claim nothing
                raise BrokerUnavailable("the heartbeat is not getting through")
            batch = self._handover() or self._claim_due()
            if not batch and not self.config.burst:
                batch = self._wait()
            if batch or self.config.burst:
                self._next_claim = None
            return batch
        except TaskQueueError as exc:  # unavailable, refused, or an error reply
            self.unsure.update(self.config.queues)
            self._next_claim = None
            self.outage.failed(exc)
            return []

    def _claim_due(self) -> Batch:
        """Claim from the queues in order, if a claim is due (always, when busy)."""
        if self._next_claim is not None and time.monotonic() < self._next_claim:
            return []
        for queue in self.config.queues:
            claimed = self.claim(queue)
            if claimed:
                return claimed
        self.settler.confirm()  # nothing to run: the last batch is stored first
        self._plan_idle_claim()
        return []

    def _handover(self) -> Batch:
        """Claim a message a waiter thread moved into in-flight, if one is here."""
        arrival = self.waiter.take() if self.waiter is not None else None
        return [] if arrival is None else self.claim(*arrival)

    def _plan_idle_claim(self) -> None:
        """After an empty claim: claim again when something is due, or at the interval."""
        self._next_claim = min(
            [
                time.monotonic() + self.idle_claim_every,
                *self._due_at.values(),
                *self.pause.next_look(),
            ]
        )

    def claim(self, queue: str, moved: bytes | None = None) -> Batch:
        """Claim a batch; the last batch's settles ride along behind the claim."""
        policy = self.async_policy if self.async_batches else self.claim_policy
        if self.settler.pending and moved is None and queue not in self.unsure:
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
                queue, self.id, policy, moved=moved, reset=queue in self.unsure
            )
        self.unsure.discard(queue)
        self.pause.claimed(queue, result.control)
        self.settler.clock.sync(result.server_time)
        self.outage.succeeded()
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

    def due_in(self, queue: str, seconds: float) -> None:
        """A message of the queue falls due sooner than the last claim said
        (the gate deferred it): claim then, not at the next idle claim."""
        due = time.monotonic() + max(0.0, seconds)
        self._due_at[queue] = min(self._due_at.get(queue, due), due)
        if self._next_claim is not None:
            self._next_claim = min(self._next_claim, due)

    def _wait(self) -> Batch:
        """Block until a message arrives, a claim is due, or one block timeout passes."""
        timeout = self.config.block_timeout
        if self._next_claim is not None:
            timeout = max(0.01, min(timeout, self._next_claim - time.monotonic()))
        arrival: Arrival | None
        if self.pause.all_of(self.config.queues):
            self.stop.wait(min(timeout, LOOK_EVERY))  # claim again to see a resume
            self._next_claim = None
            return []
        if self.waiter is None:
            queue = self.config.queues[0]
            raw = self.broker.block(queue, self.id, timeout)
            arrival = None if raw is None else (queue, raw)
        else:
            arrival = self.waiter.wait(timeout)
        if arrival is None:
            return []
        batch = self.claim(*arrival)
        if not batch:  # a wake token: a new scheduled message may be due sooner
            self._plan_idle_claim()
        return batch

    def close(self) -> Batch:
        """Stop the waiter threads; returns what they had moved in flight for us."""
        if self.waiter is None:
            return []
        return [(queue, Claimed(raw, 0)) for queue, raw in self.waiter.close()]
