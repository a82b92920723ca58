"""Waiting out an outage of Redis or of the database: capped backoff, one log
line each way."""

from __future__ import annotations

import logging
import time

from taskqueue.exceptions import BrokerUnavailable, TaskQueueError
from taskqueue.retry import backoff
from taskqueue.worker import dbhealth
from taskqueue.worker.stop import StopFlag

log = logging.getLogger("taskqueue.worker")


def wait_for_database(stop: StopFlag, reason: str) -> None:
    """Block until every database answers again, or a stop is requested.

    The consumer has handed its messages back first, so nothing waits in
    its in-flight list meanwhile; its heartbeat goes on, so nobody recovers
    (and re-runs) anything either.
    """
    started = time.monotonic()
    log.error("Database unavailable, tasks wait until it answers: %s", reason)
    attempt = 0
    while not stop.requested:
        attempt += 1
        if stop.wait(backoff(attempt, 0.5, 10.0) + 0.05):
            return
        if dbhealth.all_answer():
            log.warning("Database is back after %.1fs", time.monotonic() - started)
            return


class RedisOutage:
    """A consumer's claims failing: back off between tries, say when it ended."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self._since: float | None = None
        self._attempt = 0

    def failed(self, exc: TaskQueueError) -> None:
        """A claim (or the heartbeat) failed: log the first, then wait a backoff."""
        if self._since is None:
            self._since, self._attempt = time.monotonic(), 0
            if isinstance(exc, BrokerUnavailable):
                log.error("Redis unavailable, reconnecting with backoff: %s", exc)
            else:
                log.error("Redis refused the claim, retrying with backoff: %s", exc)
        self._attempt += 1
        self.stop.wait(backoff(self._attempt, 0.5, 10.0) + 0.05)

    def succeeded(self) -> None:
        if self._since is not None:
            log.warning("Redis is back after %.1fs", time.monotonic() - self._since)
            self._since = None
