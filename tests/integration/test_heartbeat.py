"""The worker registry: crashed workers' info is forgotten after a while."""

from __future__ import annotations

import time

import orjson

from taskqueue.worker.heartbeat import Heartbeat


def test_prune_forgets_workers_silent_for_long_and_keeps_live_ones(broker):
    now = time.time()
    broker.set_worker(
        "crashed", orjson.dumps({"name": "crashed", "heartbeat_at": now - 3600})
    )
    broker.set_worker("garbled", b"not json")
    broker.set_worker("alive", orjson.dumps({"name": "alive", "heartbeat_at": now}))
    heartbeat = Heartbeat(
        broker=broker,
        name="me",
        queues=["default"],
        consumers=list,
        interval=1.0,
        extra={},
    )

    heartbeat.prune()

    assert set(broker.workers()) == {"alive"}
