"""Waiting out a database outage: capped backoff, one log line each way."""

from __future__ import annotations

import logging
import time

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
